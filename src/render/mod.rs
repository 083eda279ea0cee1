//! Stage 2, render: MinIO's EnvironmentFile gets the MINIO_KMS_KES_*
//! variables (and `[env_file.set]`) while every other byte stays the
//! operator's. MinIO's KMS rules hold in the result; a file configuring
//! another KMS is refused untouched.

mod diff;
pub mod edit;
pub mod minio_rules;

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::atomic_file::{Attributes, DirLock, LOCK_WAIT, LockError, Mode};
use crate::config::{Auth, EnvFileSettings, KesSettings};
use crate::envfile::{self, Dialect, EnvFileError};
use crate::regular_file::{self, ReadError};
use edit::{Desired, Plan};

const API_KEY: &str = "MINIO_KMS_KES_API_KEY";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "{path}: {source}\n  fix: repair the file by hand (MinIO's unit would start without any of its variables)"
    )]
    Unreadable { path: PathBuf, source: EnvFileError },
    #[error(
        "{path} configures another KMS ({found}); kesgate manages KES only and left the file untouched\n  fix: switching KMS loses access to data encrypted with the old one; if you really mean to move to KES, remove those lines yourself"
    )]
    OtherKms { path: PathBuf, found: String },
    #[error(
        "{path}: cannot write {name}: {why}; nothing was written\n  fix: change that value in kesgate.toml, or point MINIO_CONFIG_ENV_FILE at a file of its own (MinIO's syntax only)"
    )]
    Unwritable {
        path: PathBuf,
        name: String,
        why: &'static str,
    },
    #[error("{path} {problem}; nothing was written\n  fix: {fix}")]
    Shape {
        path: PathBuf,
        problem: String,
        fix: &'static str,
    },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "cannot render {path}: {source}; nothing was written\n  fix: let it finish, or stop that process"
    )]
    Locked { path: PathBuf, source: LockError },
    #[error(
        "cannot write {path}: {source}; the file is unchanged\n  fix: make the file system writable and give it free space, then run `kesgate render` again"
    )]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "internal error: the rendered {path} would break MinIO's KMS rules ({problems}); nothing was written"
    )]
    Invariant { path: PathBuf, problems: String },
}

/// What a render did or would do.
#[derive(Debug)]
pub struct Report {
    pub path: PathBuf,
    pub changed: Vec<String>,
    pub removed: Vec<(String, &'static str)>,
    pub written: bool,
    /// (old mode, new mode) when a secret-holding file was too open.
    pub tightened: Option<(u32, u32)>,
    /// Unified diff with secret values masked (when asked for).
    pub diff: Option<String>,
}

/// The variables kesgate owns, as `[kes]` and `[env_file.set]` say.
pub fn desired(kes: &KesSettings, env: &EnvFileSettings) -> Desired {
    let mut d = kes_desired(kes);
    d.set.extend(env.set.iter().cloned());
    d
}

/// The KES variables alone (what MINIO_CONFIG_ENV_FILE gets).
fn kes_desired(kes: &KesSettings) -> Desired {
    let mut set = vec![
        (
            "MINIO_KMS_KES_ENDPOINT".to_owned(),
            kes.endpoints_as_written.join(","),
        ),
        (
            "MINIO_KMS_KES_KEY_NAME".to_owned(),
            kes.default_key.to_string(),
        ),
    ];
    let mut remove: Vec<(String, &'static str)> = Vec::new();
    match &kes.auth {
        Auth::ApiKey { key, .. } => {
            set.push((API_KEY.to_owned(), key.to_text().expose().clone()));
            for v in ["MINIO_KMS_KES_CERT_FILE", "MINIO_KMS_KES_KEY_FILE"] {
                remove.push((v.to_owned(), "an API key is configured; MinIO refuses both"));
            }
        }
        Auth::CertFile { cert, key } => {
            set.push(("MINIO_KMS_KES_CERT_FILE".to_owned(), absolute(cert)));
            set.push(("MINIO_KMS_KES_KEY_FILE".to_owned(), absolute(key)));
            remove.push((
                API_KEY.to_owned(),
                "a client certificate is configured; MinIO refuses both",
            ));
        }
    }
    remove.push((
        "MINIO_KMS_KES_KEY_PASSWORD".to_owned(),
        "kesgate configures unencrypted keys only",
    ));
    match &kes.ca {
        Some(ca) => set.push(("MINIO_KMS_KES_CAPATH".to_owned(), absolute(ca))),
        None => remove.push((
            "MINIO_KMS_KES_CAPATH".to_owned(),
            "[kes] ca is not set: the OS trust store is used",
        )),
    }
    remove.push((
        "MINIO_KMS_KES_ENCLAVE".to_owned(),
        "ignored by MinIO since RELEASE.2024-03-03",
    ));
    Desired { set, remove }
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_owned())
        .display()
        .to_string()
}

fn has_secret(kes: &KesSettings) -> bool {
    matches!(kes.auth, Auth::ApiKey { .. })
}

/// Where writes to `path` land: a symbolic link is followed to its target,
/// which is replaced in its own directory (the link stays a link, as with
/// `sed --follow-symlinks`).
fn target_of(path: &Path) -> Result<PathBuf, RenderError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(target) => Ok(target),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(RenderError::Shape {
                path: path.to_owned(),
                problem: ReadError::Dangling(fs::read_link(path).unwrap_or_default()).to_string(),
                fix: "create the file it points to, or remove the link (kesgate then creates a regular file)",
            }),
            Err(source) => Err(RenderError::Read {
                path: path.to_owned(),
                source,
            }),
        },
        _ => Ok(path.to_owned()),
    }
}

/// The previous content's place next to `target`.
fn prev_of(target: &Path) -> PathBuf {
    PathBuf::from(format!("{}.kesgate-prev", target.display()))
}

/// What a write needs that waiting will not bring: a directory to write
/// in, and no directory where the file or its `.kesgate-prev` go.
fn writable_shape(path: &Path, target: &Path) -> Result<(), RenderError> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(RenderError::Shape {
                path: path.to_owned(),
                problem: format!("cannot be created: {} is not a directory", dir.display()),
                fix: "fix [env_file] path (or MINIO_CONFIG_ENV_FILE) to name a file in a directory",
            });
        }
        Err(_) => {
            return Err(RenderError::Shape {
                path: path.to_owned(),
                problem: format!(
                    "cannot be created: its directory {} does not exist",
                    dir.display()
                ),
                fix: "create the directory (`install -d -m 755 DIR`), or fix [env_file] path (or MINIO_CONFIG_ENV_FILE)",
            });
        }
    }
    let prev = prev_of(target);
    if fs::symlink_metadata(&prev).is_ok_and(|m| m.is_dir()) {
        return Err(RenderError::Shape {
            path: prev,
            problem: "is a directory".into(),
            fix: "move it away: kesgate keeps the previous content of the file there",
        });
    }
    Ok(())
}

/// Current content (empty when missing) of `target`, and its mode.
fn read(path: &Path, target: &Path) -> Result<(Vec<u8>, Option<Mode>), RenderError> {
    match regular_file::read_with_metadata(target, regular_file::MAX_ENV_FILE) {
        Ok((bytes, meta)) => {
            let mode = Mode {
                mode: meta.permissions().mode() & 0o7777,
                uid: Some(meta.uid()),
                gid: Some(meta.gid()),
            };
            Ok((bytes, Some(mode)))
        }
        Err(ReadError::Missing) => Ok((Vec::new(), None)),
        Err(e) if e.is_wrong_shape() => Err(RenderError::Shape {
            path: path.to_owned(),
            problem: if target == path {
                e.to_string()
            } else {
                format!("links to {}, which {e}", target.display())
            },
            fix: "put a regular file there (or a symbolic link to one): kesgate edits regular files only",
        }),
        Err(e) => Err(RenderError::Read {
            path: path.to_owned(),
            source: e.into_io(),
        }),
    }
}

/// Where MinIO reads its variables. systemd reads `[env_file] path`; when
/// that sets MINIO_CONFIG_ENV_FILE, MinIO reads the named file itself and
/// its values override systemd's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Only systemd reads the file.
    One,
    /// MINIO_CONFIG_ENV_FILE names the EnvironmentFile itself: both
    /// parsers read it, so only values both read alike are written.
    Shared,
    /// MINIO_CONFIG_ENV_FILE names another file: the KES variables go
    /// there, in MinIO's syntax, and leave systemd's file.
    Split(PathBuf),
}

fn layout(systemd_path: &Path, systemd_env: &std::collections::BTreeMap<String, String>) -> Layout {
    match envfile::config_env_file(systemd_env) {
        None => Layout::One,
        Some(p) => {
            let same = |a: &Path, b: &Path| match (fs::canonicalize(a), fs::canonicalize(b)) {
                (Ok(a), Ok(b)) => a == b,
                _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
            };
            if same(&p, systemd_path) {
                Layout::Shared
            } else {
                Layout::Split(p)
            }
        }
    }
}

/// One file as read: its bytes, mode and dialect.
struct File {
    /// As configured (in messages).
    path: PathBuf,
    /// Where it is written: `path`, or the target of its symbolic link.
    target: PathBuf,
    dialect: Dialect,
    old: Vec<u8>,
    existing: Option<Mode>,
}

impl File {
    fn read(path: &Path, dialect: Dialect) -> Result<File, RenderError> {
        let target = target_of(path)?;
        let (old, existing) = read(path, &target)?;
        Ok(File {
            path: path.to_owned(),
            target,
            dialect,
            old,
            existing,
        })
    }

    fn unreadable(&self) -> impl Fn(EnvFileError) -> RenderError + '_ {
        move |source| match source {
            EnvFileError::Unwritable { name, why } => RenderError::Unwritable {
                path: self.path.clone(),
                name,
                why,
            },
            source => RenderError::Unreadable {
                path: self.path.clone(),
                source,
            },
        }
    }

    fn assignments(&self) -> Result<Vec<envfile::Assignment>, RenderError> {
        self.dialect.parse(&self.old).map_err(self.unreadable())
    }

    /// The values MinIO ends up with from this file. For a file both read,
    /// MinIO's parse is the later one and wins.
    fn minio_view(
        bytes: &[u8],
        dialect: Dialect,
    ) -> Result<std::collections::BTreeMap<String, String>, EnvFileError> {
        let mut env = envfile::effective(&dialect.parse(bytes)?);
        if dialect == Dialect::Both {
            env.extend(envfile::effective(&Dialect::Minio.parse(bytes)?));
        }
        Ok(env)
    }

    /// Refuses a file configuring another KMS, naming its lines.
    fn refuse_other_kms(&self) -> Result<(), RenderError> {
        let assignments = self.assignments()?;
        let others = minio_rules::other_families(&envfile::effective(&assignments));
        if others.is_empty() {
            return Ok(());
        }
        let found = others
            .iter()
            .map(|name| {
                let a = assignments
                    .iter()
                    .rev()
                    .find(|a| &a.key == name)
                    .expect("present");
                let line = self.old[..a.span.start]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1;
                format!("{name} on line {line}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        Err(RenderError::OtherKms {
            path: self.path.clone(),
            found,
        })
    }

    fn plan(&self, desired: &Desired) -> Result<Plan, RenderError> {
        edit::plan(&self.old, desired, self.dialect).map_err(self.unreadable())
    }
}

/// The files and what each must say, for the layout the systemd file sets.
struct Files {
    layout: Layout,
    /// (file, what it must say); the systemd file first.
    plans: Vec<(File, Desired)>,
    /// What systemd gives MinIO besides these files.
    base: Env,
}

/// `base`: what systemd gives MinIO besides this file (`Environment=`, the
/// unit's other EnvironmentFiles); this file's values win over it.
fn files(kes: &KesSettings, env: &EnvFileSettings, base: &Env) -> Result<Files, RenderError> {
    let path = env.path.as_path();
    let systemd = File::read(path, Dialect::Systemd)?;
    let mut seen = base.clone();
    seen.extend(envfile::effective(&systemd.assignments()?));
    let layout = layout(path, &seen);
    let plans = match &layout {
        Layout::One => vec![(systemd, desired(kes, env))],
        Layout::Shared => vec![(
            File {
                dialect: Dialect::Both,
                ..systemd
            },
            desired(kes, env),
        )],
        Layout::Split(minio_path) => {
            let mine = kes_desired(kes);
            // [env_file.set] stays with systemd (ExecStart= expands
            // $MINIO_OPTS from it); KES variables leave it.
            let why = "MINIO_CONFIG_ENV_FILE names another file, which MinIO reads after this one: kesgate keeps the KES variables there";
            let systemd_desired = Desired {
                set: env.set.clone(),
                remove: mine
                    .set
                    .iter()
                    .map(|(n, _)| n)
                    .chain(mine.remove.iter().map(|(n, _)| n))
                    .map(|n| (n.clone(), why))
                    .collect(),
            };
            vec![
                (systemd, systemd_desired),
                (File::read(minio_path, Dialect::Minio)?, mine),
            ]
        }
    };
    Ok(Files {
        layout,
        plans,
        base: base.clone(),
    })
}

/// An environment: name → value.
pub type Env = std::collections::BTreeMap<String, String>;

/// The environment MinIO would see after `contents` (one per file, in order).
fn minio_env(
    files: &Files,
    contents: &[&[u8]],
) -> Result<std::collections::BTreeMap<String, String>, RenderError> {
    let mut env = files.base.clone();
    for ((file, _), bytes) in files.plans.iter().zip(contents) {
        env.extend(File::minio_view(bytes, file.dialect).map_err(file.unreadable())?);
    }
    Ok(env)
}

/// What a render did or would do, per file.
#[derive(Debug)]
pub struct Rendered {
    pub layout: Layout,
    /// The systemd file first, then MINIO_CONFIG_ENV_FILE's when it is another.
    pub files: Vec<Report>,
}

/// Renders the file(s) (or, with `dry_run`, only says what would change).
/// `new_owner`: who a newly created MINIO_CONFIG_ENV_FILE belongs to
/// (MinIO reads it as its own user).
pub async fn render(
    kes: &KesSettings,
    env: &EnvFileSettings,
    dry_run: bool,
    want_diff: bool,
    new_owner: Option<(u32, u32)>,
    base: &Env,
) -> Result<Rendered, RenderError> {
    // The lock covers read-modify-write: concurrent renders serialise. One
    // lock per directory (where the targets of links are), always the
    // systemd file's first.
    let mut locks: Vec<DirLock> = Vec::new();
    if !dry_run {
        let target = target_of(&env.path)?;
        writable_shape(&env.path, &target)?;
        locks.push(lock(&env.path, &target).await?);
    }
    let mut files = files(kes, env, base)?;
    if let (false, Layout::Split(p)) = (dry_run, &files.layout) {
        let target = target_of(p)?;
        writable_shape(p, &target)?;
        if !locks.iter().any(|l| l.covers(&target)) {
            locks.push(lock(p, &target).await?);
        }
        // Read again under its own lock.
        let fresh = File::read(p, Dialect::Minio)?;
        files.plans[1].0 = fresh;
    }
    for (file, _) in &files.plans {
        file.refuse_other_kms()?;
    }
    let mut plans = Vec::new();
    for (file, desired) in &files.plans {
        plans.push(file.plan(desired)?);
    }
    let contents: Vec<&[u8]> = plans.iter().map(|p| p.content.as_slice()).collect();
    let after = minio_env(&files, &contents)?;
    let problems = minio_rules::problems(&after);
    let last = files.plans.last().expect("a file").0.path.clone();
    if !problems.is_empty() {
        return Err(RenderError::Invariant {
            path: last,
            problems: problems.join("; "),
        });
    }
    // Every value kesgate sets reaches MinIO as configured, whichever
    // parser reads it (a file both read: both must agree).
    for (file, desired) in &files.plans {
        if file.dialect == Dialect::Both {
            let plan = &plans[0];
            let sd = envfile::effective(
                &Dialect::Systemd
                    .parse(&plan.content)
                    .map_err(file.unreadable())?,
            );
            let mn = envfile::effective(
                &Dialect::Minio
                    .parse(&plan.content)
                    .map_err(file.unreadable())?,
            );
            for (name, value) in &desired.set {
                if sd.get(name) != Some(value) || mn.get(name) != Some(value) {
                    return Err(RenderError::Unwritable {
                        path: file.path.clone(),
                        name: name.clone(),
                        why: "a line of the operator's makes systemd and MinIO read it differently",
                    });
                }
            }
        }
    }
    let mut reports = Vec::new();
    let mut writes = Vec::new();
    for ((file, _), plan) in files.plans.iter().zip(plans) {
        let holds_secret = has_secret(kes) && plan_holds(&plan.content, file.dialect, API_KEY);
        let mut mode = file.existing.unwrap_or(match (file.dialect, new_owner) {
            (Dialect::Minio, Some((uid, gid))) => Mode {
                mode: 0o600,
                uid: Some(uid),
                gid: Some(gid),
            },
            _ => Mode {
                mode: env.mode,
                uid: env.uid,
                gid: env.gid,
            },
        });
        let mut tightened = None;
        if holds_secret && mode.mode & 0o077 != 0 {
            tightened = Some((mode.mode, mode.mode & !0o077));
            mode.mode &= !0o077;
        }
        let diff =
            want_diff.then(|| diff::masked(&file.path, &file.old, &plan.content, file.dialect));
        // A missing MINIO_CONFIG_ENV_FILE with nothing to write stays missing.
        let unchanged = plan.is_noop(&file.old)
            && (file.existing.is_some() || plan.content.is_empty())
            && tightened.is_none();
        if !unchanged {
            writes.push((file, plan.content.clone(), mode));
        }
        reports.push(Report {
            path: file.path.clone(),
            changed: plan.changed,
            removed: plan.removed,
            written: !unchanged && !dry_run,
            tightened,
            diff,
        });
    }
    if !dry_run {
        let lock_for = |path: &Path| {
            locks
                .iter()
                .rev()
                .find(|l| l.covers(path))
                .or(locks.first())
                .expect("held when writing")
        };
        // The systemd file first: a crash between the two leaves MinIO the
        // old values from MINIO_CONFIG_ENV_FILE, never both auth methods.
        for (file, content, mode) in writes {
            let lock = lock_for(&file.target);
            let write_err = |source| RenderError::Write {
                path: file.path.clone(),
                source,
            };
            // Read here, under the lock, only for a file being replaced.
            let attributes = match file.existing {
                Some(_) => Attributes::of(&file.target).map_err(|source| RenderError::Read {
                    path: file.path.clone(),
                    source,
                })?,
                None => Attributes::default(),
            };
            if file.existing.is_some() && file.old != content {
                lock.write_keeping(&prev_of(&file.target), &file.old, mode, &attributes)
                    .map_err(write_err)?;
            }
            lock.write_keeping(&file.target, &content, mode, &attributes)
                .map_err(write_err)?;
        }
    }
    Ok(Rendered {
        layout: files.layout,
        files: reports,
    })
}

/// The lock on the directory `target` is written in.
async fn lock(path: &Path, target: &Path) -> Result<DirLock, RenderError> {
    DirLock::acquire(target, LOCK_WAIT)
        .await
        .map_err(|source| match source {
            LockError::Io(source) => RenderError::Write {
                path: path.to_owned(),
                source,
            },
            source => RenderError::Locked {
                path: path.to_owned(),
                source,
            },
        })
}

fn plan_holds(content: &[u8], dialect: Dialect, name: &str) -> bool {
    dialect
        .parse(content)
        .is_ok_and(|a| a.iter().any(|a| a.key == name))
}

/// The answer of `kesgate render --check`.
#[derive(Debug)]
pub struct Check {
    /// The file MinIO takes the KES variables from.
    pub path: PathBuf,
    pub layout: Layout,
    pub exists: bool,
    /// Why MinIO would refuse its environment; empty = accepted.
    pub minio_problems: Vec<String>,
    /// Variables that differ from the configuration (in MinIO's view, or
    /// left over in the systemd file), with the file they are in.
    pub drift: Vec<String>,
}

/// Judges MinIO's effective environment: the systemd file, then
/// MINIO_CONFIG_ENV_FILE over it.
pub fn check(kes: &KesSettings, env: &EnvFileSettings, base: &Env) -> Result<Check, RenderError> {
    let files = files(kes, env, base)?;
    let contents: Vec<&[u8]> = files.plans.iter().map(|(f, _)| f.old.as_slice()).collect();
    let seen = minio_env(&files, &contents)?;
    let mut minio_problems = minio_rules::problems(&seen);
    let others = minio_rules::other_families(&seen);
    if !others.is_empty() && minio_problems.is_empty() {
        minio_problems.push(format!("another KMS is configured ({})", others.join(", ")));
    }
    let mut drift = Vec::new();
    let several = files.plans.len() > 1;
    for (file, desired) in &files.plans {
        let plan = file.plan(desired)?;
        let mut here: Vec<String> = plan.changed;
        here.extend(plan.removed.into_iter().map(|(n, _)| n));
        if here.is_empty() && !plan.content.eq(&file.old) {
            here.push("duplicate assignments".into());
        }
        drift.extend(here.into_iter().map(|n| {
            if several {
                format!("{n} ({})", file.path.display())
            } else {
                n
            }
        }));
    }
    let (main, _) = files.plans.last().expect("a file");
    Ok(Check {
        path: main.path.clone(),
        layout: files.layout.clone(),
        exists: main.existing.is_some(),
        minio_problems,
        drift,
    })
}
