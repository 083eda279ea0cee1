//! MinIO's side: the env file it reads, the fleet fingerprint of its
//! MINIO_* set, its buckets' encryption.

use super::units::credential_directive;
use super::*;

/// The fleet fingerprint of MinIO's environment as MinIO will read it
/// (`effective`, from the env file check: the files are read once),
/// keyed with the secret every node shares: the cluster's API key, or
/// `[watch] fingerprint_key_file` with certificate auth.
fn fingerprint(r: &mut Report, settings: &Settings, effective: &render::Env) {
    let volumes = effective.get("MINIO_VOLUMES").map(String::as_str);
    if crate::fleet::distributed(volumes).is_some() {
        host_local(r, settings);
    }
    let secret: Vec<u8> = match (&settings.kes.auth, &settings.watch.fingerprint_key) {
        (_, Some(k)) => k.expose().clone(),
        (crate::config::Auth::ApiKey { key, .. }, None) => {
            key.to_text().expose().as_bytes().to_vec()
        }
        (crate::config::Auth::CertFile { .. }, None) => {
            r.fingerprint_note = Some(
                "no fingerprint: with certificate auth the nodes share no secret; set [watch] fingerprint_key_file to the same key file on every node".into(),
            );
            return;
        }
    };
    r.fingerprint = Some(crate::fleet::fingerprint(effective, &secret));
}

/// What in this host's kesgate configuration alone would make its MINIO_*
/// set differ from its peers' (a node of a distributed MinIO, or one that
/// cannot be told apart from one): a rendered value naming this host, or
/// an API key from a host-local systemd credential.
fn host_local(r: &mut Report, settings: &Settings) {
    let desired = render::desired(&settings.kes, &settings.env_file, &settings.path);
    let hostname = crate::files::regular::read_text(
        Path::new("/proc/sys/kernel/hostname"),
        crate::files::regular::MAX_CONFIG,
    )
    .unwrap_or_default();
    for name in crate::fleet::naming_this_host(&desired.set, &hostname) {
        r.warnings.push(format!(
            "{name}, as kesgate renders it, names this host ({}): every node of the cluster gets another value, and MinIO refuses a node whose MINIO_* set differs from its peers'; fix: give it the same value on every node (a path or name without the host's), in {}",
            hostname.trim(),
            settings.path.display()
        ));
    }
    let kesgate = r
        .units
        .iter()
        .flatten()
        .find(|u| u.name == "kesgate.service");
    if let Some(u) = kesgate
        && let Some((file, directive)) = credential_directive(u)
    {
        r.warnings.push(format!(
            "kesgate.service takes the API key from the host-local systemd credential {} ({directive} in {file}), which wins over the key {} names: a distributed MinIO needs the one API key of the cluster on every node; fix: put the same key in that credential on every node (the fleet fingerprints then agree), or remove {directive} and keep the key in api_key_file",
            crate::config::API_KEY_CREDENTIAL,
            settings.path.display()
        ));
    }
}

/// MinIO's environment, its files read once: the env file that holds the
/// KES variables (matches the configuration, MinIO would accept it), then
/// the fleet fingerprint of the MINIO_* set it gives.
pub(super) fn environment(
    r: &mut Report,
    settings: &Settings,
    unit: &crate::host::minio_unit::MinioUnit,
) {
    let check = match render::check(&settings.kes, &settings.env_file, unit, &settings.path) {
        Ok(c) => c,
        Err(render::RenderError::Read { source, path })
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            r.not_seen_link("env", format!("{} ({source}; run as root)", path.display()));
            return;
        }
        Err(e) => {
            r.fingerprint_note = Some(format!("no fingerprint: {}", headline(&e)));
            let why = format!("{}: {}", settings.env_file.path.display(), headline(&e));
            r.broken_link("env", why);
            return;
        }
    };
    let path = &check.path;
    let read_by = match &check.layout {
        render::Layout::One => "systemd".to_owned(),
        render::Layout::Shared => "systemd and MinIO (MINIO_CONFIG_ENV_FILE names it)".to_owned(),
        render::Layout::Split(_) => format!(
            "MinIO (MINIO_CONFIG_ENV_FILE of {}, whose values it overrides)",
            settings.env_file.path.display()
        ),
    };
    let meta = std::fs::metadata(path).ok();
    let owner = meta.as_ref().map(|m| {
        let name = |uid: u32| {
            nix::unistd::User::from_uid(uid.into())
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |u| u.name)
        };
        let group = nix::unistd::Group::from_gid(m.gid().into())
            .ok()
            .flatten()
            .map_or_else(|| m.gid().to_string(), |g| g.name);
        format!("{}:{group}", name(m.uid()))
    });
    let mode = meta.as_ref().map(|m| format!("{:04o}", m.mode() & 0o7777));
    let status = EnvStatus {
        path: path.display().to_string(),
        read_by,
        exists: check.exists,
        owner,
        mode,
        matches: check.exists && check.drift.is_empty(),
        drift: check.drift,
        minio_problems: check.minio_problems,
    };
    let (state, sentence) = status.verdict();
    if state != "matches" {
        r.problems.push(sentence);
    }
    r.env_file = Some(status);
    if check.exists {
        fingerprint(r, settings, &check.effective);
    } else {
        let missing = render::RenderError::Read {
            path: settings.env_file.path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "does not exist"),
        };
        r.fingerprint_note = Some(format!("no fingerprint: {}", headline(&missing)));
    }
}

pub(super) async fn buckets(
    r: &mut Report,
    settings: &Settings,
    unit: &crate::host::minio_unit::MinioUnit,
) {
    if settings.buckets.is_empty() {
        return;
    }
    let s3 = match buckets::connect(settings, unit).await {
        Ok(s3) => s3,
        Err(e) => {
            r.not_seen_link("buckets", format!("bucket encryption ({})", headline(&e)));
            return;
        }
    };
    if let Err(why) = buckets::healthy(&s3).await {
        r.not_seen_link(
            "buckets",
            format!(
                "bucket encryption (MinIO {} is not healthy: {why})",
                s3.endpoint()
            ),
        );
        return;
    }
    let mut out = Vec::new();
    for bucket in &settings.buckets {
        let want = bucket.key.to_string();
        let (ok, encryption) = match buckets::current(&s3, &bucket.name).await {
            Ok(now) => (now.is_kms_with(&want), now.to_string()),
            Err(e) => (false, e),
        };
        if !ok {
            r.problems.push(format!(
                "bucket {}: {encryption}, not SSE-KMS with key {want}; fix: `kesgate buckets` sets it (or `systemctl restart kesgate-buckets`)",
                bucket.name
            ));
        }
        out.push(BucketStatus {
            name: bucket.name.clone(),
            key: want,
            ok,
            encryption,
        });
    }
    r.buckets = Some(out);
}
