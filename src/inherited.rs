//! What kesgate takes from the environment it inherits — decided once, on
//! purpose, for each variable.
//!
//! kesgate's units run it with kesgate's environment. But the preflight is
//! an `ExecStartPre=+` of minio.service: systemd gives it *that* unit's
//! environment — MinIO's `RUNTIME_DIRECTORY`, `STATE_DIRECTORY`,
//! `CREDENTIALS_DIRECTORY`, whatever MinIO's `Environment=` and
//! `EnvironmentFile=` set. What MinIO sees is an input kesgate judges; it is
//! never kesgate's own configuration. So kesgate's own variables
//! (`KESGATE_CONFIG`, the unit directories, the credentials) are taken from
//! the environment only in kesgate's own units and outside systemd (a shell,
//! a test); in another unit kesgate uses its fixed places: the ones its own
//! units declare.
//!
//! Which unit runs this process is read from the kernel (`/proc/self/cgroup`:
//! systemd puts every process of a service, `+` lines included, in the
//! service's cgroup), not from any variable a unit could set.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::sync::OnceLock;

/// kesgate's runtime directory (kesgate.service's `RuntimeDirectory=kesgate`).
pub(crate) const RUNTIME_DIR: &str = "/run/kesgate";
/// kesgate's state directory (`StateDirectory=kesgate`).
pub(crate) const STATE_DIR: &str = "/var/lib/kesgate";
/// Where systemd puts kesgate.service's credentials (`LoadCredential=`):
/// the one place the preflight, in MinIO's unit, reads them from.
pub(crate) const CREDENTIALS_DIR: &str = "/run/credentials/kesgate.service";

/// The unit this process runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Not a systemd service: a shell, a test, a timer's scope. The
    /// environment is the caller's, so kesgate's variables are honoured.
    None,
    /// One of kesgate's own units (`kesgate.service`, `kesgate-*.service`).
    Own(String),
    /// Another package's unit (minio.service running the preflight).
    Foreign(String),
}

impl Unit {
    /// kesgate's own variables may be taken from the environment.
    pub(crate) fn environment_is_ours(&self) -> bool {
        !matches!(self, Unit::Foreign(_))
    }
}

/// The unit this process runs in, read once.
pub(crate) fn unit() -> &'static Unit {
    static UNIT: OnceLock<Unit> = OnceLock::new();
    UNIT.get_or_init(|| {
        // systemd sets INVOCATION_ID for every process of a unit; without
        // it this is no unit's process (a shell, a test), whatever cgroup
        // the caller happens to sit in.
        if std::env::var_os("INVOCATION_ID").is_none() {
            return Unit::None;
        }
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        classify(service_of(&cgroup))
    })
}

/// The service whose cgroup holds this process: the innermost `*.service`
/// component of the unified (v2) or the named systemd (v1) hierarchy.
pub(crate) fn service_of(cgroup: &str) -> Option<String> {
    let path = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .filter(|p| *p != "/")
        .or_else(|| {
            cgroup
                .lines()
                .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p))
        })?;
    path.rsplit('/')
        .find(|c| c.ends_with(".service"))
        .map(str::to_owned)
}

/// Own, foreign or none, by the service's name.
pub(crate) fn classify(service: Option<String>) -> Unit {
    match service {
        None => Unit::None,
        Some(s) if is_kesgate_unit(&s) => Unit::Own(s),
        Some(s) => Unit::Foreign(s),
    }
}

fn is_kesgate_unit(name: &str) -> bool {
    name.strip_prefix("kesgate")
        .is_some_and(|rest| rest.starts_with(['.', '-', '@']))
}

/// One of kesgate's variables, when the environment is kesgate's.
fn ours(var: &str) -> Option<OsString> {
    if unit().environment_is_ours() {
        std::env::var_os(var).filter(|v| !v.is_empty())
    } else {
        None
    }
}

/// The first of the colon-separated directories systemd names in `var`.
fn first_dir(var: &str) -> Option<PathBuf> {
    let value = ours(var)?;
    value
        .as_bytes()
        .split(|b| *b == b':')
        .next()
        .filter(|f| !f.is_empty())
        .map(|f| PathBuf::from(std::ffi::OsStr::from_bytes(f)))
}

/// kesgate's runtime directory: systemd's `RUNTIME_DIRECTORY` in kesgate's
/// own unit (or a shell's), else [`RUNTIME_DIR`].
pub(crate) fn runtime_dir() -> PathBuf {
    first_dir("RUNTIME_DIRECTORY").unwrap_or_else(|| PathBuf::from(RUNTIME_DIR))
}

/// kesgate's state directory (survives a reboot): `STATE_DIRECTORY` in
/// kesgate's own unit, else [`STATE_DIR`].
pub(crate) fn state_dir() -> PathBuf {
    first_dir("STATE_DIRECTORY").unwrap_or_else(|| PathBuf::from(STATE_DIR))
}

/// The fix for a credential the preflight cannot have.
pub(crate) const FIX_OPAQUE_CREDENTIAL: &str = "load it with LoadCredential=NAME:/etc/kesgate/NAME from a root-only file (the preflight reads that file), or name the file in kesgate.toml instead (api_key_file, [minio] access_key_file/secret_key_file)";

/// The one credential rule, for KES and MinIO alike: a systemd credential
/// is the unit's deliberate choice and wins over the configuration; a
/// dangling link is a credential that is wrong, not one that is absent.
///
/// Where kesgate's systemd credential `name` is, when it has one:
/// `$CREDENTIALS_DIRECTORY/NAME` in kesgate's own unit (or a shell). In
/// another unit it is kesgate.service's: its credentials directory when
/// this unit can see it, else the file kesgate.service's `LoadCredential=`
/// loads it from — systemd hides /run/credentials in a unit with mount
/// namespacing (upstream's minio.service has `ProtectProc=invisible`), and
/// a `+` line runs in that namespace too. A credential kesgate.service
/// loads encrypted or sets inline cannot be had there: an error that says
/// so, never another key.
pub(crate) fn credential(name: &str) -> Result<Option<PathBuf>, String> {
    if !matches!(unit(), Unit::Foreign(_)) {
        return Ok(ours("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join(name))
            .filter(|p| p.symlink_metadata().is_ok()));
    }
    let visible = PathBuf::from(CREDENTIALS_DIR).join(name);
    if visible.symlink_metadata().is_ok() {
        return Ok(Some(visible));
    }
    match kesgate_service_credential(name, &unit_file_dirs()) {
        Some(Loaded::From(path)) => Ok(Some(path)),
        Some(Loaded::Opaque(how)) => Err(format!(
            "kesgate.service loads the credential {name} with {how}, which MinIO's unit cannot see (systemd hides /run/credentials from a unit with mount namespacing), so the preflight in MinIO's unit cannot use the same one"
        )),
        None => Ok(None),
    }
}

/// How kesgate.service gets a credential.
#[derive(Debug, PartialEq, Eq)]
enum Loaded {
    /// `LoadCredential=NAME:PATH`: the file (a relative PATH is searched in
    /// the credential stores, as systemd does).
    From(PathBuf),
    /// `LoadCredentialEncrypted=`, `SetCredential=`, `SetCredentialEncrypted=`.
    Opaque(&'static str),
}

/// systemd's unit directories, most important first.
fn unit_file_dirs() -> Vec<PathBuf> {
    [
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/local/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}

/// kesgate.service's last word on credential `name`, from its unit file
/// (the first found) and its drop-ins (`kesgate.service.d/*.conf`, a name
/// in a more important directory masking the same name in a later one,
/// applied in name order), [Service] section only.
fn kesgate_service_credential(name: &str, dirs: &[PathBuf]) -> Option<Loaded> {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .map(|d| d.join("kesgate.service"))
        .find(|p| p.is_file())
        .into_iter()
        .collect();
    let mut dropins: std::collections::BTreeMap<std::ffi::OsString, PathBuf> = Default::default();
    for d in dirs.iter().rev() {
        if let Ok(entries) = std::fs::read_dir(d.join("kesgate.service.d")) {
            for e in entries.filter_map(Result::ok) {
                let file_name = e.file_name();
                if file_name.as_bytes().ends_with(b".conf") {
                    dropins.insert(file_name, e.path());
                }
            }
        }
    }
    files.extend(dropins.into_values());
    let mut found = None;
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (key, value) in crate::unit_file::service_assignments(&text) {
            let (id, source) = value.split_once(':').unwrap_or((value.as_str(), ""));
            match key.as_str() {
                // An empty assignment resets the list.
                "LoadCredential"
                | "LoadCredentialEncrypted"
                | "SetCredential"
                | "SetCredentialEncrypted"
                    if value.is_empty() =>
                {
                    found = None;
                }
                "LoadCredential" if id == name => {
                    found = Some(Loaded::From(credential_file(if source.is_empty() {
                        id
                    } else {
                        source
                    })));
                }
                "LoadCredentialEncrypted" if id == name => {
                    found = Some(Loaded::Opaque("LoadCredentialEncrypted="))
                }
                "SetCredential" if id == name => found = Some(Loaded::Opaque("SetCredential=")),
                "SetCredentialEncrypted" if id == name => {
                    found = Some(Loaded::Opaque("SetCredentialEncrypted="))
                }
                _ => {}
            }
        }
    }
    found
}

/// A `LoadCredential=` source: an absolute path as is; a relative one
/// found in the credential stores systemd searches.
fn credential_file(source: &str) -> PathBuf {
    let path = PathBuf::from(source);
    if path.is_absolute() {
        return path;
    }
    ["/etc/credstore", "/run/credstore", "/usr/lib/credstore"]
        .iter()
        .map(|d| PathBuf::from(d).join(&path))
        .find(|p| p.exists())
        .unwrap_or(path)
}

/// `KESGATE_CONFIG`, when the environment is kesgate's: in MinIO's unit it
/// would be MinIO's `Environment=` choosing kesgate's configuration.
pub(crate) fn config_path() -> Option<PathBuf> {
    ours("KESGATE_CONFIG").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_is_read_from_the_cgroup_v2_and_v1() {
        assert_eq!(
            service_of("0::/system.slice/minio.service\n").as_deref(),
            Some("minio.service")
        );
        assert_eq!(
            service_of("0::/system.slice/system-minio.slice/minio@a.service/control\n").as_deref(),
            Some("minio@a.service")
        );
        let v1 = "12:pids:/system.slice/kesgate.service\n1:name=systemd:/system.slice/kesgate.service\n0::/\n";
        assert_eq!(service_of(v1).as_deref(), Some("kesgate.service"));
        assert_eq!(
            service_of("0::/user.slice/user-0.slice/session-3.scope\n"),
            None
        );
        assert_eq!(service_of("0::/\n"), None);
        assert_eq!(service_of(""), None);
    }

    /// Every variable the code reads is listed, with why, in
    /// docs/environment.md (a variable added to the code without a word
    /// there fails here).
    #[test]
    fn every_variable_read_is_documented() {
        let doc = include_str!("../docs/environment.md");
        let mut read = std::collections::BTreeSet::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                for pat in [
                    "var_os(\"",
                    "var(\"",
                    "ours(\"",
                    "first_dir(\"",
                    "env.get(\"",
                ] {
                    for piece in text.split(pat).skip(1) {
                        let name: String = piece.chars().take_while(|c| *c != '"').collect();
                        if name
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
                        {
                            read.insert(name);
                        }
                    }
                }
            }
        }
        assert!(
            read.contains("RUNTIME_DIRECTORY") && read.contains("MINIO_CONFIG_ENV_FILE"),
            "{read:?}"
        );
        for name in &read {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/environment.md does not list {name}"
            );
        }
    }

    #[test]
    fn kesgate_services_credential_is_read_from_its_unit_files_as_systemd_applies_them() {
        let root = tempfile::tempdir().unwrap();
        let (etc, lib) = (root.path().join("etc"), root.path().join("lib"));
        std::fs::create_dir_all(etc.join("kesgate.service.d")).unwrap();
        std::fs::create_dir_all(lib.join("kesgate.service.d")).unwrap();
        std::fs::write(
            lib.join("kesgate.service"),
            "[Service]\nExecStart=/usr/bin/kesgate start\n",
        )
        .unwrap();
        let dirs = [etc.clone(), lib.clone()];
        assert_eq!(kesgate_service_credential("kes-api-key", &dirs), None);
        std::fs::write(
            lib.join("kesgate.service.d/10-key.conf"),
            "[Unit]\nLoadCredential=kes-api-key:/wrong\n[Service]\nLoadCredential=kes-api-key:/etc/kesgate/key\n",
        )
        .unwrap();
        assert_eq!(
            kesgate_service_credential("kes-api-key", &dirs),
            Some(Loaded::From(PathBuf::from("/etc/kesgate/key")))
        );
        // The same name in /etc masks the one in /usr/lib.
        std::fs::write(
            etc.join("kesgate.service.d/10-key.conf"),
            "[Service]\nLoadCredentialEncrypted=kes-api-key:/etc/kesgate/key.cred\n",
        )
        .unwrap();
        assert_eq!(
            kesgate_service_credential("kes-api-key", &dirs),
            Some(Loaded::Opaque("LoadCredentialEncrypted="))
        );
        // A later drop-in's empty assignment resets the list.
        std::fs::write(
            etc.join("kesgate.service.d/20-reset.conf"),
            "[Service]\nLoadCredentialEncrypted=\n",
        )
        .unwrap();
        assert_eq!(kesgate_service_credential("kes-api-key", &dirs), None);
        assert_eq!(kesgate_service_credential("other", &dirs), None);
    }

    #[test]
    fn kesgates_units_are_its_own_and_others_are_foreign() {
        let c = |s: &str| classify(Some(s.to_owned()));
        for own in [
            "kesgate.service",
            "kesgate-keys.service",
            "kesgate-watch.service",
            "kesgate@x.service",
        ] {
            assert_eq!(c(own), Unit::Own(own.into()), "{own}");
        }
        for foreign in ["minio.service", "kesgatex.service", "minio@kesgate.service"] {
            assert!(!c(foreign).environment_is_ours(), "{foreign}");
        }
        assert!(classify(None).environment_is_ours());
    }
}
