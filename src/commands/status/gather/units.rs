//! The units of the chain over D-Bus: their states, kesgate's drop-in in
//! MinIO's unit, and what a broken one needs.

use super::*;

/// The kesgate units and MinIO's (`[minio] unit`), in boot-chain order.
fn unit_names<'a>(kes_unit: Option<&'a str>, minio: &'a str) -> Vec<&'a str> {
    kes_unit
        .into_iter()
        .chain([
            "kesgate.service",
            "kesgate-keys.service",
            minio,
            "kesgate-buckets.service",
        ])
        .collect()
}

/// kesgate's drop-in for MinIO's unit, as packaged.
const DROP_IN: &str = ".d/kesgate.conf";

/// Whether `path` is kesgate's drop-in for `minio`: the packaged one, or
/// any drop-in of that unit that runs `kesgate preflight` (as
/// crate::host::minio_unit judges it).
fn is_ours(path: &str, minio: &str) -> bool {
    path.ends_with(&format!("{minio}{DROP_IN}"))
        || crate::files::regular::read_text(
            std::path::Path::new(path),
            crate::files::regular::MAX_CONFIG,
        )
        .is_ok_and(|t| t.contains("kesgate preflight"))
}

pub(super) async fn units(r: &mut Report, kes_unit: Option<&str>, minio: &str) {
    let conn = match bus::system_bus().await {
        Ok(c) => c,
        Err(e) => {
            r.not_seen_link("units", format!("unit states ({e})"));
            return;
        }
    };
    let mut states = Vec::new();
    for name in unit_names(kes_unit, minio) {
        match bus::unit_state(&conn, name).await {
            Ok(u) => states.push(u),
            Err(e) => r.not_seen.push(format!("{name} ({e})")),
        }
    }
    for u in &states {
        if let Some(problem) = unit_problem(u, kes_unit, minio) {
            r.problems.push(problem);
        }
        if u.name == minio
            && let Some(file) = notify_access_all(u, minio)
        {
            r.problems.push(format!(
                "{file} sets NotifyAccess=all, which kesgate's drop-in replaces with NotifyAccess=exec: a wrapper that forks MinIO would lose its READY=1 (fix: let ExecStart= run MinIO itself, or set NotifyAccess=all in a drop-in named after kesgate's, e.g. minio.service.d/zz-notify.conf)"
            ));
        }
    }
    r.units = Some(states);
}

/// The unit's own file or a drop-in applied before kesgate's that sets
/// `NotifyAccess=all` in its [Service] section (kesgate's `exec` wins over
/// it; a later drop-in would win over kesgate's).
fn notify_access_all(u: &UnitState, minio: &str) -> Option<String> {
    let ours = u.drop_ins.iter().position(|d| is_ours(d, minio))?;
    let own =
        std::iter::once(u.fragment.as_str()).chain(u.drop_ins[..ours].iter().map(String::as_str));
    service_settings(own)
        .find(|(_, k, v)| k == "NotifyAccess" && v == "all")
        .map(|(file, _, _)| file.to_owned())
}

/// The `KEY=VALUE` lines of the [Service] sections of `files` (a unit's
/// own file and drop-ins, in order), each with the file it is in; files
/// that cannot be read are passed over.
fn service_settings<'a>(
    files: impl Iterator<Item = &'a str>,
) -> impl Iterator<Item = (&'a str, String, String)> {
    files.filter(|f| !f.is_empty()).flat_map(|file| {
        let text =
            crate::files::regular::read_text(Path::new(file), crate::files::regular::MAX_CONFIG)
                .unwrap_or_default();
        crate::unit_file::service_assignments(&text)
            .into_iter()
            .map(move |(k, v)| (file, k, v))
    })
}

fn unit_problem(u: &UnitState, kes_unit: Option<&str>, minio: &str) -> Option<String> {
    let name = &u.name;
    let why = || {
        let mut s = format!("{}/{}", u.active_state, u.sub_state);
        if let Some(result) = u.result.as_deref().filter(|r| *r != "success") {
            s.push_str(&format!(", result {result}"));
        }
        if let Some(text) = &u.status_text {
            s.push_str(&format!(": {text}"));
        }
        s
    };
    if !u.exists() {
        // A remote KES has no local unit; that is fine.
        return (Some(name.as_str()) != kes_unit).then(|| format!("{name} is not installed"));
    }
    let seeding = name.starts_with("kesgate-");
    match u.active_state.as_str() {
        "active" => {}
        // A seeding unit that never ran (condition false, not yet wanted) is not broken;
        // nor is one still at work (a status right after MinIO's start): its failure
        // would be.
        "inactive" if seeding && u.result.as_deref() == Some("success") => {}
        "activating" if seeding => {}
        "failed" => {
            return Some(format!(
                "{name} is {}; fix: `journalctl -u {name}` says why; then `systemctl reset-failed {name}` and `systemctl start {name}`",
                why()
            ));
        }
        _ => {
            return Some(format!(
                "{name} is {}; fix: `systemctl start {name}` (`systemctl status {name}` says what it waits for)",
                why()
            ));
        }
    }
    if name == minio && !u.drop_ins.iter().any(|d| is_ours(d, minio)) {
        return Some(format!(
            "{minio} runs without kesgate's drop-in ({minio}{DROP_IN}): MinIO restarts are not checked; fix: reinstall kesgate (for another unit name, copy /usr/lib/systemd/system/minio.service.d/kesgate.conf to /etc/systemd/system/{minio}{DROP_IN}), then `systemctl daemon-reload`"
        ));
    }
    None
}

/// The unit file or drop-in of `u` that loads the `kes-api-key`
/// credential, and the directive that does it.
pub(super) fn credential_directive(u: &UnitState) -> Option<(String, String)> {
    let files = std::iter::once(u.fragment.as_str()).chain(u.drop_ins.iter().map(String::as_str));
    service_settings(files)
        .find(|(_, k, v)| {
            k.contains("Credential")
                && v.split(':').next() == Some(crate::config::API_KEY_CREDENTIAL)
        })
        .map(|(file, k, _)| (file.to_owned(), format!("{k}=")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(fragment: &str, drop_ins: Vec<String>) -> UnitState {
        UnitState {
            name: "kesgate.service".into(),
            load_state: "loaded".into(),
            active_state: "active".into(),
            sub_state: "exited".into(),
            result: None,
            exit_status: None,
            restarts: None,
            since_usec: 0,
            status_text: None,
            drop_ins,
            fragment: fragment.into(),
            job_queued: false,
        }
    }

    #[test]
    fn a_kes_api_key_credential_in_a_drop_in_is_found() {
        let d = tempfile::tempdir().unwrap();
        let fragment = d.path().join("kesgate.service");
        std::fs::write(&fragment, "[Service]\nExecStart=/usr/bin/kesgate start\n").unwrap();
        let other = d.path().join("10-other.conf");
        std::fs::write(
            &other,
            "[Service]\nLoadCredential=minio-access-key:/etc/x\n",
        )
        .unwrap();
        let ours = d.path().join("20-key.conf");
        std::fs::write(
            &ours,
            "[Service]\nLoadCredentialEncrypted=kes-api-key:/etc/kesgate/kes-api-key.cred\n",
        )
        .unwrap();
        let f = fragment.display().to_string();
        assert_eq!(
            credential_directive(&unit(&f, vec![other.display().to_string()])),
            None
        );
        assert_eq!(
            credential_directive(&unit(
                &f,
                vec![other.display().to_string(), ours.display().to_string()]
            )),
            Some((
                ours.display().to_string(),
                "LoadCredentialEncrypted=".to_owned()
            ))
        );
    }
}
