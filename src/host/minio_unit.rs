//! How minio.service runs MinIO, as far as kesgate must copy it to reach
//! MinIO's TLS decision: the user whose permissions decide which CA files
//! MinIO can read, and MinIO's certs directory (`--certs-dir`/`-S` in
//! MINIO_OPTS, else `~/.minio/certs` of that user), whose `CAs` MinIO trusts
//! when MINIO_KMS_KES_CAPATH is not set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Settings;
use crate::files::envfile;
use crate::host::systemd::bus;
use crate::net::tls::access::{Reader, Who};
use crate::net::tls::{CaSource, Section, TlsSetupError, TrustPool};

/// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: either lets MinIO read any file.
const DAC_CAPS: u64 = (1 << 1) | (1 << 2);

#[derive(Clone, Debug)]
pub(crate) struct RunsAs {
    pub who: Who,
    pub home: PathBuf,
    /// Where kesgate learned it, for messages.
    pub from: String,
}

/// minio.service as kesgate must copy it, read once over one bus
/// connection and handed to every stage that needs it.
#[derive(Clone, Debug)]
pub(crate) struct MinioUnit {
    /// The unit's name (`[minio] unit`, minio.service by default).
    pub name: String,
    /// The user MinIO runs as (`[minio] user`, else the unit's `User=`…).
    pub runs_as: Option<RunsAs>,
    /// What systemd gives MinIO besides `[env_file] path`: `Environment=`
    /// and the unit's other `EnvironmentFile=`s; `None` without a bus or
    /// the unit.
    pub environment: Option<Environment>,
    /// MinIO's working directory (`WorkingDirectory=`, `/` by default):
    /// a relative MINIO_CONFIG_ENV_FILE is opened from there.
    pub working_directory: PathBuf,
    /// kesgate's drop-in is in effect: every MinIO start runs the
    /// preflight first (`None`: the unit was not seen).
    pub preflight: Option<bool>,
}

/// An environment: name → value.
pub(crate) type Env = std::collections::BTreeMap<String, String>;

/// What systemd gives MinIO around kesgate's file, in systemd's order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Environment {
    /// `Environment=` and the files listed before kesgate's.
    pub before: Env,
    /// The files listed after kesgate's: they win over it.
    pub after: Env,
    /// `UnsetEnvironment=` entries (`NAME` or `NAME=value`).
    pub unset: Vec<String>,
}

impl Environment {
    /// `values` (kesgate's file) applied at its place: what systemd hands
    /// MinIO.
    pub(crate) fn around(&self, values: &Env) -> Env {
        let mut env = self.before.clone();
        env.extend(values.clone());
        env.extend(self.after.clone());
        for entry in &self.unset {
            match entry.split_once('=') {
                Some((k, v)) => {
                    if env.get(k).is_some_and(|have| have == v) {
                        env.remove(k);
                    }
                }
                None => {
                    env.remove(entry);
                }
            }
        }
        env
    }
}

impl MinioUnit {
    /// No unit seen (no bus, or tests): MinIO's defaults.
    pub(crate) fn unseen(name: &str, user: Option<&str>) -> MinioUnit {
        MinioUnit {
            name: name.to_owned(),
            runs_as: user.and_then(|name| from_passwd(name, None, &[], 0, "[minio] user".into())),
            environment: None,
            working_directory: PathBuf::from("/"),
            preflight: None,
        }
    }

    /// Who a MINIO_CONFIG_ENV_FILE that kesgate creates belongs to: MinIO's
    /// user and primary group (MinIO reads it as that user).
    pub(crate) fn owner(&self) -> Option<(u32, u32)> {
        self.runs_as
            .as_ref()
            .map(|r| (r.who.uid, r.who.gids.first().copied().unwrap_or(0)))
    }

    /// The environment systemd gives MinIO with `values` as kesgate's
    /// file (just those when the unit is unseen).
    pub(crate) fn around(&self, values: &Env) -> Env {
        self.environment.clone().unwrap_or_default().around(values)
    }
}

/// Reads minio.service once: its user, environment and working directory,
/// and whether kesgate's preflight drop-in is in effect.
pub(crate) async fn unit(settings: &Settings) -> MinioUnit {
    read(
        &settings.minio.unit,
        settings.minio.user.as_deref(),
        &settings.env_file.path,
    )
    .await
}

/// [`unit`] before there are settings (`init`): MinIO's unit `name`, the
/// user MinIO runs as when not the unit's, and kesgate's env file.
pub(crate) async fn read(name: &str, user: Option<&str>, env_file: &Path) -> MinioUnit {
    let mut facts = MinioUnit::unseen(name, user);
    let Some((unit, service)) = proxies(name).await else {
        return facts;
    };
    if user.is_none() {
        facts.runs_as = runs_as_service(&service, name).await;
    }
    let home = facts.runs_as.as_ref().map(|r| r.home.clone());
    facts.working_directory =
        working_directory(&service.working_directory().await.unwrap_or_default(), home);
    let environment = environment_of(&service, env_file).await;
    // MinIO's Go runtime takes the home from $HOME first: a unit that sets
    // it (Environment=HOME=…) moves MinIO's ~/.minio/certs with it.
    if let Some(home) = environment
        .around(&Env::new())
        .remove("HOME")
        .filter(|h| !h.is_empty())
        && let Some(r) = facts.runs_as.as_mut()
    {
        r.from = format!("{} with HOME={home} in its environment", r.from);
        r.home = PathBuf::from(home);
    }
    facts.environment = Some(environment);
    // In effect: listed, and not masked (a link to /dev/null is listed too).
    facts.preflight = unit.drop_in_paths().await.ok().map(|paths| {
        paths.iter().any(|p| {
            crate::files::regular::read_text(Path::new(p), crate::files::regular::MAX_CONFIG)
                .is_ok_and(|t| t.contains("kesgate preflight"))
        })
    });
    facts
}

/// `WorkingDirectory=` as systemd applies it: empty = `/`, `~` = the
/// user's home, a leading `-` (missing is fine) dropped.
fn working_directory(value: &str, home: Option<PathBuf>) -> PathBuf {
    let v = value.strip_prefix('-').unwrap_or(value);
    match v {
        "" => PathBuf::from("/"),
        "~" => home.unwrap_or_else(|| PathBuf::from("/")),
        v => PathBuf::from(v),
    }
}

async fn proxies(name: &str) -> Option<(bus::UnitProxy<'static>, bus::ServiceProxy<'static>)> {
    let conn = bus::system_bus().await.ok()?;
    let path = bus::manager(&conn).await.ok()?.load_unit(name).await.ok()?;
    let unit = bus::unit(&conn, path.clone()).await.ok()?;
    if unit.load_state().await.ok()? == "not-found" {
        return None;
    }
    Some((unit, bus::service(&conn, path).await.ok()?))
}

/// The user MinIO runs as, from minio.service's `User=`/`Group=`/
/// `SupplementaryGroups=`/`AmbientCapabilities=`.
async fn runs_as_service(service: &bus::ServiceProxy<'static>, unit: &str) -> Option<RunsAs> {
    let user = service.user().await.unwrap_or_default();
    let group = service.group().await.unwrap_or_default();
    let extra = service.supplementary_groups().await.unwrap_or_default();
    let caps = service.ambient_capabilities().await.unwrap_or(0);
    let user = if user.is_empty() {
        "root".to_owned()
    } else {
        user
    };
    from_passwd(
        &user,
        (!group.is_empty()).then_some(group.as_str()),
        &extra,
        caps,
        format!("{unit}'s User={user}"),
    )
}

/// As systemd sets a service's credentials: the user's groups from the
/// group database, `Group=` as the primary group, then the supplementary ones.
fn from_passwd(
    name: &str,
    group: Option<&str>,
    extra: &[String],
    caps: u64,
    from: String,
) -> Option<RunsAs> {
    use nix::unistd::{Group, User};
    // A numeric User= is a uid, with or without a passwd entry (systemd
    // takes it as such).
    let user = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(uid.into())
            .ok()
            .flatten()
            .unwrap_or_else(|| User {
                name: name.to_owned(),
                passwd: Default::default(),
                uid: uid.into(),
                gid: group
                    .and_then(|g| g.parse::<u32>().ok())
                    .unwrap_or(uid)
                    .into(),
                gecos: Default::default(),
                dir: PathBuf::from("/"),
                shell: Default::default(),
                #[cfg(not(target_os = "linux"))]
                class: Default::default(),
                #[cfg(not(target_os = "linux"))]
                change: Default::default(),
                #[cfg(not(target_os = "linux"))]
                expire: Default::default(),
            }),
        Err(_) => User::from_name(name).ok().flatten()?,
    };
    let primary = group
        .and_then(|g| Group::from_name(g).ok().flatten())
        .map_or(user.gid, |g| g.gid);
    let mut gids = vec![primary.as_raw()];
    if let Ok(cname) = std::ffi::CString::new(name)
        && let Ok(list) = nix::unistd::getgrouplist(&cname, user.gid)
    {
        gids.extend(list.into_iter().map(|g| g.as_raw()));
    }
    gids.extend(
        extra
            .iter()
            .filter_map(|g| Group::from_name(g).ok().flatten())
            .map(|g| g.gid.as_raw()),
    );
    gids.dedup();
    let uid = user.uid.as_raw();
    Some(RunsAs {
        who: Who {
            name: user.name,
            uid,
            gids,
            reads_anything: uid == 0 || caps & DAC_CAPS != 0,
        },
        home: user.dir,
        from,
    })
}

/// `Environment=` and the unit's other `EnvironmentFile=`s (drop-ins
/// included), split where systemd applies `[env_file] path`: files listed
/// before it are overridden by it, files listed after it override it (the
/// later file wins, systemd.exec(5)). A glob names every file it matches,
/// in order. `UnsetEnvironment=` is applied last, as systemd does.
async fn environment_of(service: &bus::ServiceProxy<'static>, env_file: &Path) -> Environment {
    let mut env = Environment {
        before: service
            .environment()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect(),
        ..Environment::default()
    };
    let ours = std::fs::canonicalize(env_file).ok();
    let mut past_ours = false;
    for (pattern, _) in service.environment_files().await.unwrap_or_default() {
        for file in crate::files::glob::expand(Path::new(&pattern)) {
            if std::fs::canonicalize(&file).ok() == ours {
                past_ours = true;
                continue;
            }
            if let Ok(Some(values)) = envfile::load(&file, envfile::Dialect::Systemd) {
                if past_ours {
                    env.after.extend(values);
                } else {
                    env.before.extend(values);
                }
            }
        }
    }
    env.unset = service.unset_environment().await.unwrap_or_default();
    env
}

/// The CA source MinIO uses for KES: MINIO_KMS_KES_CAPATH (`[kes] ca`),
/// else `<certs-dir>/CAs`.
pub(crate) fn kes_ca_source(settings: &Settings, runs_as: Option<&RunsAs>) -> CaSource {
    if let Some(ca) = &settings.kes.ca {
        return CaSource::Configured(ca.clone());
    }
    let env = &settings.env_file.path;
    if let Some(dir) = certs_dir_option(env) {
        return CaSource::CertsDir {
            path: dir.join("CAs"),
            why: format!("--certs-dir in MINIO_OPTS of {}", env.display()),
        };
    }
    let (home, why) = match runs_as {
        Some(r) => (r.home.clone(), format!("~/.minio/certs of {}", r.from)),
        None => (
            std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from),
            "~/.minio/certs of kesgate's own user: MinIO's user is unknown".to_owned(),
        ),
    };
    CaSource::CertsDir {
        path: home.join(".minio/certs/CAs"),
        why,
    }
}

/// The trust pool MinIO builds for KES, read as MinIO's user (off the
/// runtime thread: these are files kesgate does not own).
/// `runs_as`: [`runs_as`]'s answer, asked once by the caller.
pub(crate) async fn kes_trust(
    settings: &Settings,
    runs_as: Option<&RunsAs>,
) -> Result<(Arc<TrustPool>, CaSource), TlsSetupError> {
    let source = kes_ca_source(settings, runs_as);
    let reader = Reader(runs_as.map(|r| r.who.clone()));
    // MINIO_KMS_KES_CERT_FILE / KEY_FILE: MinIO reads them as its user too.
    if let crate::config::Auth::CertFile { cert, key } = &settings.kes.auth {
        use crate::net::tls::access::Access;
        for (path, access) in [(cert, Access::File), (key, Access::Key)] {
            reader
                .check(path, access)
                .map_err(|problem| TlsSetupError::ClientNotReadable {
                    path: path.clone(),
                    problem,
                })?;
        }
    }
    let pool = crate::net::tls::pool::build(Section::Kes, source.clone(), reader).await?;
    Ok((pool, source))
}

/// `--certs-dir DIR`, `--certs-dir=DIR`, `-S DIR` or `-S=DIR` in MINIO_OPTS
/// (split at white space as systemd splits `$MINIO_OPTS`; the last wins).
fn certs_dir_option(env_file: &Path) -> Option<PathBuf> {
    let values = envfile::load(env_file, envfile::Dialect::Systemd).ok()??;
    let opts = values.get("MINIO_OPTS")?.clone();
    certs_dir_in(&opts)
}

pub(crate) fn certs_dir_in(opts: &str) -> Option<PathBuf> {
    let words = split_words(opts);
    let mut found = None;
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let flag = w.trim_start_matches('-');
        let dashes = w.len() - flag.len();
        if !(1..=2).contains(&dashes) {
            continue;
        }
        match flag.split_once('=') {
            Some(("certs-dir" | "S", v)) => found = Some(PathBuf::from(v)),
            None if flag == "certs-dir" || flag == "S" => {
                found = it.next().map(PathBuf::from);
            }
            _ => {}
        }
    }
    found
}

/// systemd's splitting of an unbraced `$VAR`: white space separates words,
/// single and double quotes group them.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for ch in s.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn working_directory_as_systemd_applies_it() {
        let home = Some(PathBuf::from("/home/minio-user"));
        assert_eq!(working_directory("", home.clone()), PathBuf::from("/"));
        assert_eq!(
            working_directory("/usr/local", None),
            PathBuf::from("/usr/local")
        );
        assert_eq!(working_directory("-/srv", None), PathBuf::from("/srv"));
        assert_eq!(
            working_directory("~", home),
            PathBuf::from("/home/minio-user")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_dir_as_minio_reads_its_flags() {
        let p = |s: &str| certs_dir_in(s).map(|p| p.display().to_string());
        assert_eq!(
            p("--certs-dir /opt/minio/certs --console-address :9001").as_deref(),
            Some("/opt/minio/certs")
        );
        assert_eq!(
            p("--address :9000 -S=/etc/minio/certs").as_deref(),
            Some("/etc/minio/certs")
        );
        assert_eq!(p("-S /a --certs-dir=\"/b c\"").as_deref(), Some("/b c"));
        assert_eq!(p("--console-address \":9001\""), None);
        assert_eq!(p("---certs-dir /x"), None);
    }
}
