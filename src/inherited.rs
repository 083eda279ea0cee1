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
pub const RUNTIME_DIR: &str = "/run/kesgate";
/// kesgate's state directory (`StateDirectory=kesgate`).
pub const STATE_DIR: &str = "/var/lib/kesgate";
/// Where systemd puts kesgate.service's credentials (`LoadCredential=`):
/// the one place the preflight, in MinIO's unit, reads them from.
pub const CREDENTIALS_DIR: &str = "/run/credentials/kesgate.service";

/// The unit this process runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unit {
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
    pub fn environment_is_ours(&self) -> bool {
        !matches!(self, Unit::Foreign(_))
    }
}

/// The unit this process runs in, read once.
pub fn unit() -> &'static Unit {
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
pub fn service_of(cgroup: &str) -> Option<String> {
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
pub fn classify(service: Option<String>) -> Unit {
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
pub fn runtime_dir() -> PathBuf {
    first_dir("RUNTIME_DIRECTORY").unwrap_or_else(|| PathBuf::from(RUNTIME_DIR))
}

/// kesgate's state directory (survives a reboot): `STATE_DIRECTORY` in
/// kesgate's own unit, else [`STATE_DIR`].
pub fn state_dir() -> PathBuf {
    first_dir("STATE_DIRECTORY").unwrap_or_else(|| PathBuf::from(STATE_DIR))
}

/// The directory of kesgate's systemd credentials: `CREDENTIALS_DIRECTORY`
/// in kesgate's own unit; in another unit kesgate.service's (which exists
/// while kesgate.service is active: it stays so after its start).
pub fn credentials_dir() -> Option<PathBuf> {
    match unit() {
        Unit::Foreign(_) => Some(PathBuf::from(CREDENTIALS_DIR)),
        _ => ours("CREDENTIALS_DIRECTORY").map(PathBuf::from),
    }
}

/// `KESGATE_CONFIG`, when the environment is kesgate's: in MinIO's unit it
/// would be MinIO's `Environment=` choosing kesgate's configuration.
pub fn config_path() -> Option<PathBuf> {
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
