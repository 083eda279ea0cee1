//! Render: MinIO's EnvironmentFile gets the MINIO_KMS_KES_*
//! variables (and `[env_file.set]`) while every other byte stays the
//! operator's. MinIO's KMS rules hold in the result; a file configuring
//! another KMS is refused untouched.
//!
//! In two halves: [`plan`] reads the file(s) MinIO's environment comes from
//! — safely (crate::files::safe_path), as MinIO and systemd read them — and works
//! out the new contents and the order of the writes; [`commit`] performs
//! them under the host's write lock, with a record of the unfinished change
//! in kesgate's state directory. How kesgate writes (README "How kesgate
//! writes"): MinIO's view is the complete old or the complete new
//! configuration at every instant and across the two moments that make it
//! up (systemd reads its file when it starts MinIO, MinIO reads
//! MINIO_CONFIG_ENV_FILE a moment later).

mod commit;
mod diff;
pub mod edit;
pub mod minio_rules;
mod tell;

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::{Auth, EnvFileSettings, KesSettings};
use crate::files::atomic::{LockError, Mode};
use crate::files::envfile::{self, Dialect, EnvFileError};
use crate::files::regular::{self, ReadError};
use crate::files::safe_path::{Place, SafePathError};
use crate::host::minio_unit::{Environment, MinioUnit};
use edit::{Desired, Plan};

pub use commit::{commit, finish_unfinished};

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
    #[error(
        "{path}: {source}; kesgate writes as root and does not follow it; nothing was written\n  fix: give that directory to root (`chown root: DIR`), or keep the file in a directory only root may change"
    )]
    Unsafe {
        path: PathBuf,
        source: SafePathError,
    },
    #[error("cannot read {path}: {source}\n  fix: {}", read_fix(source))]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "cannot render {path}: {source}; nothing was written\n  fix: let it finish, or stop that process"
    )]
    Locked { path: PathBuf, source: LockError },
    #[error("cannot write {path}: {source}; {state}\n  fix: {}", write_fix(source))]
    Write {
        path: PathBuf,
        source: io::Error,
        /// What was written before the failure and what MinIO sees now.
        state: String,
    },
    #[error("{path}: MinIO would not read it: {why}; nothing was written\n  fix: {fix}")]
    MinioCannotRead {
        path: PathBuf,
        why: String,
        fix: String,
    },
    #[error(
        "{files}: no order of the writes keeps MinIO's view the complete old or new configuration ({why}); nothing was written\n  fix: make the change in two steps: first the KES settings with the layout as it is, then the layout"
    )]
    NoSafeOrder { files: String, why: String },
    #[error(
        "{path}: kesgate.service's sandbox may not write it ({source}), and {unit} does not run kesgate's preflight before MinIO starts (its drop-in kesgate.conf is not in effect), so MinIO would start on what the file says now\n  fix: restore the drop-in (reinstall kesgate, then `systemctl daemon-reload`), or keep the file where kesgate.service may write it (owned by root)"
    )]
    NoPreflight {
        path: PathBuf,
        source: io::Error,
        unit: String,
    },
    #[error(
        "internal error: the rendered {path} would break MinIO's KMS rules ({problems}); nothing was written"
    )]
    Invariant { path: PathBuf, problems: String },
}

/// The fix for a failed write, by what the kernel said.
fn write_fix(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(nix::libc::EBUSY) => {
            "the file is a mount point (a bind mount?), which rename(2) cannot replace: mount its directory instead, or let kesgate write the file it is mounted from"
        }
        Some(nix::libc::ENOSPC | nix::libc::EDQUOT) => {
            "free space on that file system, then run `kesgate render` again"
        }
        Some(nix::libc::EROFS) => {
            "make the file system writable (for kesgate.service: ReadWritePaths= in a drop-in), then run `kesgate render` again"
        }
        Some(nix::libc::EPERM | nix::libc::EACCES) => {
            "run kesgate as root (the file's directory must be writable; an immutable file: `chattr -i`), or see what the unit's sandbox allows"
        }
        Some(nix::libc::ENAMETOOLONG) => "use a shorter file name (255 bytes at most)",
        _ => {
            "make the file system writable and give it free space, then run `kesgate render` again"
        }
    }
}

fn read_fix(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(nix::libc::EACCES | nix::libc::EPERM) => {
            "run kesgate as root (kesgate.service reads it with CAP_DAC_READ_SEARCH)"
        }
        Some(nix::libc::ENAMETOOLONG) => "use a shorter file name (255 bytes at most)",
        _ => "check the file system, then run kesgate again",
    }
}

/// What a render did or would do.
#[derive(Debug)]
pub struct Report {
    pub path: PathBuf,
    pub changed: Vec<String>,
    pub removed: Vec<(String, &'static str)>,
    pub written: bool,
    /// Whether a write would change the file (bytes or mode), written or not.
    pub differs: bool,
    /// The bytes differ (not only the mode).
    pub content_differs: bool,
    /// (old mode, new mode) when a secret-holding file was too open.
    pub tightened: Option<(u32, u32)>,
    /// Unified diff with secret values masked (when asked for).
    pub diff: Option<String>,
}

/// The variables kesgate owns, as `[kes]` and `[env_file.set]` say;
/// `config` is named in the comment that heads them.
pub fn desired(kes: &KesSettings, env: &EnvFileSettings, config: &Path) -> Desired {
    let mut d = kes_desired(kes, config);
    d.set.extend(env.set.iter().cloned());
    d
}

/// The KES variables alone (what MINIO_CONFIG_ENV_FILE gets).
fn kes_desired(kes: &KesSettings, config: &Path) -> Desired {
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
    Desired {
        set,
        remove,
        marker: edit::marker(config),
    }
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

/// Where writes to `path` land, reached as systemd-tmpfiles would: a link
/// in a root-owned directory is followed (its target is replaced in its own
/// directory, the link stays), none through another user's directory.
fn place_of(path: &Path) -> Result<Place, RenderError> {
    crate::files::safe_path::place(path).map_err(|source| match source {
        SafePathError::Unsafe { .. } | SafePathError::Loop { .. } => RenderError::Unsafe {
            path: path.to_owned(),
            source,
        },
        SafePathError::Missing { path: dir } => RenderError::Shape {
            path: path.to_owned(),
            problem: format!("cannot be created: {} does not exist", dir.display()),
            fix: "create the directory (`install -d -m 755 DIR`), or fix [env_file] path (or MINIO_CONFIG_ENV_FILE)",
        },
        SafePathError::NotDirectory { path: dir } => RenderError::Shape {
            path: path.to_owned(),
            problem: format!("cannot be created: {} is not a directory", dir.display()),
            fix: "fix [env_file] path (or MINIO_CONFIG_ENV_FILE) to name a file in a directory",
        },
        SafePathError::Os { errno, .. } => RenderError::Read {
            path: path.to_owned(),
            source: io::Error::from(errno),
        },
    })
}

/// The previous content's name next to a file.
fn prev_name(name: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut n = name.to_owned();
    n.push(".kesgate-prev");
    n
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

/// Whether two paths name the same file (resolved where they exist).
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}

fn layout(systemd_path: &Path, systemd_env: &Env, working_directory: &Path) -> Layout {
    match envfile::config_env_file(systemd_env, working_directory) {
        None => Layout::One,
        Some(p) if same_file(&p, systemd_path) => Layout::Shared,
        Some(p) => Layout::Split(p),
    }
}

/// One file as read: its bytes, mode and dialect.
struct File {
    /// As configured (in messages).
    path: PathBuf,
    /// Where it is read and written, safely.
    place: Place,
    dialect: Dialect,
    old: Vec<u8>,
    existing: Option<Mode>,
}

impl File {
    fn read(path: &Path, dialect: Dialect) -> Result<File, RenderError> {
        let place = place_of(path)?;
        let shape = |problem: String| RenderError::Shape {
            path: path.to_owned(),
            problem,
            fix: "put a regular file there (or a symbolic link to one): kesgate edits regular files only",
        };
        let (old, existing) = match crate::files::atomic::read_at(&place, regular::MAX_ENV_FILE) {
            Ok(Some((bytes, meta))) => {
                let mode = Mode {
                    mode: meta.permissions().mode() & 0o7777,
                    uid: Some(meta.uid()),
                    gid: Some(meta.gid()),
                };
                (bytes, Some(mode))
            }
            Ok(None) => {
                if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(RenderError::Shape {
                        path: path.to_owned(),
                        problem: ReadError::Dangling(fs::read_link(path).unwrap_or_default())
                            .to_string(),
                        fix: "create the file it points to, or remove the link (kesgate then creates a regular file)",
                    });
                }
                (Vec::new(), None)
            }
            Err(e) if e.is_wrong_shape() => {
                return Err(shape(if place.path == path {
                    e.to_string()
                } else {
                    format!("links to {}, which {e}", place.path.display())
                }));
            }
            Err(e) => {
                return Err(RenderError::Read {
                    path: path.to_owned(),
                    source: e.into_io(),
                });
            }
        };
        Ok(File {
            path: path.to_owned(),
            place,
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
    fn minio_view(bytes: &[u8], dialect: Dialect) -> Result<Env, EnvFileError> {
        let mut env = envfile::effective(&dialect.parse(bytes)?);
        if dialect == Dialect::Both {
            env.extend(envfile::effective(&Dialect::Minio.parse(bytes)?));
        }
        Ok(env)
    }

    /// Whether MinIO reads this file itself (MINIO_CONFIG_ENV_FILE).
    fn read_by_minio(&self) -> bool {
        matches!(self.dialect, Dialect::Minio | Dialect::Both)
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
            .filter_map(|name| {
                let a = assignments.iter().rev().find(|a| &a.key == name)?;
                let line = self.old[..a.span.start]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1;
                Some(format!("{name} on line {line}"))
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
    /// What systemd gives MinIO around kesgate's file, in its order.
    base: Environment,
    working_directory: PathBuf,
}

/// The layout follows the systemd file as it will be: `[env_file.set]`
/// may name a MINIO_CONFIG_ENV_FILE of its own, which is then read (and
/// written) in the same render.
fn files(
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    config: &Path,
) -> Result<Files, RenderError> {
    let path = env.path.as_path();
    let systemd = File::read(path, Dialect::Systemd)?;
    let mut ours = envfile::effective(&systemd.assignments()?);
    ours.extend(env.set.iter().cloned());
    let seen = unit.around(&ours);
    let base = unit.environment.clone().unwrap_or_default();
    let layout = layout(path, &seen, &unit.working_directory);
    let plans = match &layout {
        Layout::One => vec![(systemd, desired(kes, env, config))],
        Layout::Shared => vec![(
            File {
                dialect: Dialect::Both,
                ..systemd
            },
            desired(kes, env, config),
        )],
        Layout::Split(minio_path) => {
            let mine = kes_desired(kes, config);
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
                marker: edit::marker(config),
            };
            // [env_file.set] lives in systemd's file: the same name in
            // MinIO's file would override it there.
            let mut mine = mine;
            mine.remove.extend(env.set.iter().map(|(n, _)| {
                (
                    n.clone(),
                    "[env_file.set] keeps it in the systemd file; here MinIO's value would override it",
                )
            }));
            vec![
                (systemd, systemd_desired),
                (File::read(minio_path, Dialect::Minio)?, mine),
            ]
        }
    };
    Ok(Files {
        layout,
        plans,
        base,
        working_directory: unit.working_directory.clone(),
    })
}

/// An environment: name → value.
pub type Env = std::collections::BTreeMap<String, String>;

/// The environment MinIO would see after `contents` (one per file, in order).
fn minio_env(files: &Files, contents: &[&[u8]]) -> Result<Env, RenderError> {
    let mut env = Env::new();
    for (i, ((file, _), bytes)) in files.plans.iter().zip(contents).enumerate() {
        let view = File::minio_view(bytes, file.dialect).map_err(file.unreadable())?;
        at_its_place(&mut env, &files.base, i, view);
    }
    Ok(env)
}

/// The `i`-th file's view applied as its reader applies it: the systemd
/// file (the first) at its place among the unit's environment, the file
/// MinIO reads itself over everything.
fn at_its_place(env: &mut Env, base: &Environment, i: usize, view: Env) {
    if i == 0 {
        *env = base.around(&view);
    } else {
        env.extend(view);
    }
}

/// Why MinIO's user could not read a file MinIO reads itself (MinIO exits:
/// "Unable to read the config environment file"); `None` when it can, or
/// when kesgate does not know who MinIO runs as.
fn minio_cannot_read(file: &File, unit: &MinioUnit) -> Option<String> {
    if !file.read_by_minio() || file.existing.is_none() {
        return None;
    }
    let who = unit.runs_as.as_ref()?.who.clone();
    let name = who.name.clone();
    crate::net::tls::access::Reader(Some(who))
        .check(&file.place.path, crate::net::tls::access::Access::File)
        .err()
        .map(|why| format!("MinIO's user {name} cannot read it ({why})"))
}

/// What a render did or would do, per file.
#[derive(Debug)]
pub struct Rendered {
    pub layout: Layout,
    /// The systemd file first, then MINIO_CONFIG_ENV_FILE's when it is another.
    pub files: Vec<Report>,
    /// MinIO's own file, which this sandbox may not touch and minio.service's
    /// preflight renders (as root) before every MinIO start.
    pub left_to_preflight: Option<PathBuf>,
}

impl Rendered {
    /// Where the KES variables are, in a few words (for STATUS=).
    pub fn summary(&self) -> String {
        if let Some(path) = &self.left_to_preflight {
            return format!(
                "{} is rendered by minio.service's preflight",
                path.display()
            );
        }
        let written = self.files.iter().any(|f| f.written);
        let files = self
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ");
        format!("{files} {}", if written { "updated" } else { "up to date" })
    }
}

/// What `render` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write what differs.
    Write,
    /// Write what differs; from kesgate.service's sandbox, MinIO's own file
    /// owned by MinIO's user is left to minio.service's preflight — when
    /// that preflight is in effect (else MinIO would start on what the
    /// file says now, and that is an error).
    WriteOrLeaveToPreflight,
    /// Only say what would change.
    DryRun,
}

impl Action {
    fn writes(self) -> bool {
        self != Action::DryRun
    }
}

/// How a render runs.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    pub action: Action,
    /// A masked diff of every change in the report.
    pub diff: bool,
    /// The configuration in charge, named in the managed block's comment.
    pub config: &'a Path,
}

/// One file's part in a render: its new content and how it is written.
struct Change {
    file: File,
    content: Vec<u8>,
    mode: Mode,
    write: bool,
}

/// The pure half of a render: what each file becomes and in which order
/// the writes go. Nothing is written.
pub struct Planned {
    layout: Layout,
    changes: Vec<Change>,
    /// Indices into `changes`, in write order; a file may come twice (an
    /// intermediate content first), see commit::order.
    steps: Vec<(usize, Vec<u8>)>,
    reports: Vec<Report>,
    /// For saying what MinIO sees after a partial write.
    views: commit::Views,
}

/// Reads the files and works out the render. With `Action::Write` the
/// caller holds the write lock.
fn plan(
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    options: Options<'_>,
) -> Result<Planned, RenderError> {
    let files = files(kes, env, unit, options.config)?;
    for (file, _) in &files.plans {
        file.refuse_other_kms()?;
    }
    let mut plans = Vec::new();
    for (file, desired) in &files.plans {
        plans.push(file.plan(desired)?);
    }
    readable_as_planned(&files, &plans)?;
    let mut reports = Vec::new();
    let mut changes = Vec::new();
    let Files {
        layout,
        plans: file_plans,
        base,
        working_directory,
    } = files;
    for ((file, _), plan) in file_plans.into_iter().zip(plans) {
        if options.action.writes() {
            writable_for_minio(&file, unit)?;
        }
        let (report, change) = change(file, plan, kes, env, unit, options);
        reports.push(report);
        changes.push(change);
    }
    let views = commit::Views::new(base, working_directory, &changes)?;
    let steps = commit::order(&changes, &views, kes, env, options.config)?;
    Ok(Planned {
        layout,
        changes,
        steps,
        reports,
        views,
    })
}

/// Never write what kesgate (and MinIO) would refuse to read: what they
/// read is MinIO's environment after the render, which must keep MinIO's
/// KMS rules; and every value kesgate sets reaches MinIO as configured,
/// whichever parser reads it (a file both read: both must agree).
fn readable_as_planned(files: &Files, plans: &[Plan]) -> Result<(), RenderError> {
    let mut after = Env::new();
    for (i, ((file, _), plan)) in files.plans.iter().zip(plans).enumerate() {
        if plan.content.len() as u64 > regular::MAX_ENV_FILE {
            return Err(RenderError::Unwritable {
                path: file.path.clone(),
                name: "the rendered file".into(),
                why: "it would be larger than 4 MiB, more than kesgate reads back",
            });
        }
        let view =
            File::minio_view(&plan.content, file.dialect).map_err(|e| RenderError::Unwritable {
                path: file.path.clone(),
                name: "the rendered file".into(),
                why: match e {
                    EnvFileError::LineTooLong { .. } => {
                        "a line would be 64 KiB or longer, which MinIO cannot read"
                    }
                    _ => "its reader would refuse the result",
                },
            })?;
        at_its_place(&mut after, &files.base, i, view);
    }
    let problems = minio_rules::problems(&after);
    if let Some((last, _)) = files.plans.last()
        && !problems.is_empty()
    {
        return Err(RenderError::Invariant {
            path: last.path.clone(),
            problems: problems.join("; "),
        });
    }
    for ((file, desired), plan) in files.plans.iter().zip(plans) {
        if file.dialect != Dialect::Both {
            continue;
        }
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
    Ok(())
}

/// Before a write: MinIO's user can read the file, and nothing stands
/// where its previous content is kept.
fn writable_for_minio(file: &File, unit: &MinioUnit) -> Result<(), RenderError> {
    if let Some(why) = minio_cannot_read(file, unit) {
        let user = unit
            .runs_as
            .as_ref()
            .map(|r| r.who.name.clone())
            .unwrap_or_default();
        return Err(RenderError::MinioCannotRead {
            path: file.path.clone(),
            why,
            fix: format!(
                "`chown {user} {}` (upstream: owned by MinIO's user, mode 0600)",
                file.place.path.display()
            ),
        });
    }
    prev_not_a_directory(file)
}

/// The mode a file holding the API key gets: readable by its owner alone
/// when only systemd reads it (PID 1 reads as root); a file MinIO reads
/// itself (MINIO_CONFIG_ENV_FILE) stays readable by MinIO — its owner
/// (upstream: minio-user 0600), or MinIO's group (root:minio-user 0640) —
/// and by nobody else. A file MinIO could read only through the "others"
/// bits keeps them: closing them would stop MinIO (render refuses to write
/// such a file for MinIO elsewhere; this only never makes it worse).
fn private_mode(mode: Mode, dialect: Dialect, unit: &MinioUnit) -> u32 {
    let m = mode.mode;
    if dialect == Dialect::Systemd {
        return m & !0o077;
    }
    let Some(who) = unit.runs_as.as_ref().map(|r| &r.who) else {
        return m & !0o077;
    };
    let (uid, gid) = (mode.uid.unwrap_or(0), mode.gid.unwrap_or(0));
    if who.uid == uid || (who.reads_anything && who.uid == 0) {
        m & !0o077
    } else if who.gids.contains(&gid) {
        m & !0o037
    } else {
        m & !0o033
    }
}

/// One file's change and its report: the new content, the owner and mode
/// it is written with (a file that holds the API key never readable by
/// others), and whether it needs writing at all.
fn change(
    file: File,
    plan: Plan,
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    options: Options<'_>,
) -> (Report, Change) {
    let holds_secret = has_secret(kes) && plan_holds(&plan.content, file.dialect, API_KEY);
    let mut mode = file.existing.unwrap_or(match (file.dialect, unit.owner()) {
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
    let private = private_mode(mode, file.dialect, unit);
    if holds_secret && private != mode.mode {
        tightened = Some((mode.mode, private));
        mode.mode = private;
    }
    let diff = options
        .diff
        .then(|| diff::masked(&file.path, &file.old, &plan.content, file.dialect));
    // A missing MINIO_CONFIG_ENV_FILE with nothing to write stays missing.
    let content_differs =
        !(plan.is_noop(&file.old) && (file.existing.is_some() || plan.content.is_empty()));
    let unchanged = !content_differs && tightened.is_none();
    let report = Report {
        path: file.path.clone(),
        changed: plan.changed,
        removed: plan.removed,
        written: !unchanged && options.action.writes(),
        differs: !unchanged,
        content_differs,
        tightened,
        diff,
    };
    let change = Change {
        file,
        content: plan.content,
        mode,
        write: !unchanged,
    };
    (report, change)
}

/// No directory where a file's `.kesgate-prev` goes.
fn prev_not_a_directory(file: &File) -> Result<(), RenderError> {
    let prev = prev_name(&file.place.name);
    let is_dir = matches!(
        file.place.dir.kind_of(&prev),
        Ok(Some(regular::FileKind::Directory))
    );
    if is_dir {
        return Err(RenderError::Shape {
            path: file.place.dir.path.join(prev),
            problem: "is a directory".into(),
            fix: "move it away: kesgate keeps the previous content of the file there",
        });
    }
    Ok(())
}

/// Renders the file(s) (or, with `Action::DryRun`, only says what would
/// change). Writes hold the host's write lock from the first read to the
/// last write: concurrent renders serialise.
pub async fn render(
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    options: Options<'_>,
) -> Result<Rendered, RenderError> {
    if options.action == Action::DryRun {
        let planned = plan(kes, env, unit, options)?;
        return Ok(Rendered {
            layout: planned.layout,
            files: planned.reports,
            left_to_preflight: None,
        });
    }
    match write(kes, env, unit, options).await {
        // kesgate.service's sandbox cannot read or replace a
        // MINIO_CONFIG_ENV_FILE owned by minio-user; the preflight, as
        // root, renders it before every MinIO start.
        Err(RenderError::Read { path, source } | RenderError::Write { path, source, .. })
            if options.action == Action::WriteOrLeaveToPreflight
                && path != env.path
                && source.kind() == io::ErrorKind::PermissionDenied =>
        {
            // Only when MinIO cannot start without the preflight.
            if unit.preflight != Some(true) {
                return Err(RenderError::NoPreflight {
                    path,
                    source,
                    unit: unit.name.clone(),
                });
            }
            tracing::info!(
                "{}: not accessible from kesgate.service's sandbox ({source}); minio.service's preflight renders it (as root) before MinIO starts",
                path.display()
            );
            Ok(Rendered {
                layout: Layout::Split(path.clone()),
                files: Vec::new(),
                left_to_preflight: Some(path),
            })
        }
        other => other,
    }
}

/// Plans and commits under the host's write lock, held from the first read
/// to the last write: concurrent renders serialise.
async fn write(
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    options: Options<'_>,
) -> Result<Rendered, RenderError> {
    let _lock = crate::files::atomic::WriteLock::acquire(crate::files::atomic::LOCK_WAIT)
        .await
        .map_err(|source| match source {
            LockError::Io(source) => RenderError::Read {
                path: crate::files::atomic::runtime_dir().join("render.lock"),
                source,
            },
            source => RenderError::Locked {
                path: env.path.clone(),
                source,
            },
        })?;
    let planned = plan(kes, env, unit, options)?;
    commit(&planned)?;
    Ok(Rendered {
        layout: planned.layout,
        files: planned.reports,
        left_to_preflight: None,
    })
}

fn plan_holds(content: &[u8], dialect: Dialect, name: &str) -> bool {
    dialect
        .parse(content)
        .is_ok_and(|a| a.iter().any(|a| a.key == name))
}

/// MinIO's environment as it is now, file by file: what `init --adopt`
/// reads (the same files and parsers as `--check`, nothing written).
#[derive(Debug)]
pub struct MinioView {
    /// The environment MinIO starts with.
    pub effective: Env,
    /// (file, what its reader — or, for a file both read, each reader —
    /// takes from it); the systemd file first.
    pub files: Vec<(PathBuf, Vec<Env>)>,
}

/// Reads MinIO's environment file(s) as MinIO and systemd will.
pub fn minio_view(env: &EnvFileSettings, unit: &MinioUnit) -> Result<MinioView, RenderError> {
    let systemd = File::read(&env.path, Dialect::Systemd)?;
    if systemd.existing.is_none() {
        return Err(RenderError::Read {
            path: env.path.clone(),
            source: io::Error::new(io::ErrorKind::NotFound, "does not exist"),
        });
    }
    let systemd_values = envfile::effective(&systemd.assignments()?);
    let mut effective = unit.around(&systemd_values);
    let layout = layout(&env.path, &effective, &unit.working_directory);
    let mut files = Vec::new();
    match &layout {
        Layout::One => files.push((env.path.clone(), vec![systemd_values])),
        Layout::Shared => {
            let minio = envfile::effective(
                &Dialect::Minio
                    .parse(&systemd.old)
                    .map_err(systemd.unreadable())?,
            );
            effective.extend(minio.clone());
            files.push((env.path.clone(), vec![systemd_values, minio]));
        }
        Layout::Split(path) => {
            let file = File::read(path, Dialect::Minio)?;
            let values = envfile::effective(&file.assignments()?);
            effective.extend(values.clone());
            files.push((env.path.clone(), vec![systemd_values]));
            files.push((path.clone(), vec![values]));
        }
    }
    Ok(MinioView { effective, files })
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

/// Judges MinIO's effective environment as MinIO will compute it: the
/// systemd file, then MINIO_CONFIG_ENV_FILE over it (from MinIO's working
/// directory, read as MinIO's user, with MinIO's reader).
pub fn check(
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    config: &Path,
) -> Result<Check, RenderError> {
    let files = files(kes, env, unit, config)?;
    let contents: Vec<&[u8]> = files.plans.iter().map(|(f, _)| f.old.as_slice()).collect();
    let seen = minio_env(&files, &contents)?;
    let mut minio_problems = minio_rules::problems(&seen);
    let others = minio_rules::other_families(&seen);
    if !others.is_empty() && minio_problems.is_empty() {
        minio_problems.push(format!("another KMS is configured ({})", others.join(", ")));
    }
    for (file, _) in &files.plans {
        if let Some(why) = minio_cannot_read(file, unit) {
            minio_problems.push(format!(
                "{}: {why}, and MinIO exits at start-up (\"Unable to read the config environment file\")",
                file.path.display()
            ));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::minio_unit::RunsAs;
    use crate::net::tls::access::Who;

    fn unit(uid: u32, gids: Vec<u32>) -> MinioUnit {
        let mut u = MinioUnit::unseen("minio.service", None);
        u.runs_as = Some(RunsAs {
            who: Who {
                name: "minio-user".into(),
                uid,
                gids,
                reads_anything: false,
            },
            home: "/".into(),
            from: "test".into(),
        });
        u
    }

    fn mode(mode: u32, uid: u32, gid: u32) -> Mode {
        Mode {
            mode,
            uid: Some(uid),
            gid: Some(gid),
        }
    }

    #[test]
    fn a_file_minio_reads_itself_stays_readable_by_minio_and_by_nobody_else() {
        let minio = unit(998, vec![998]);
        let cases = [
            // Only systemd reads it: root alone.
            (mode(0o644, 0, 0), Dialect::Systemd, 0o600),
            // MINIO_CONFIG_ENV_FILE, upstream's: minio-user 0600.
            (mode(0o644, 998, 998), Dialect::Minio, 0o600),
            // root:minio-user 0640 keeps MinIO's group.
            (mode(0o664, 0, 998), Dialect::Minio, 0o640),
            (mode(0o644, 0, 998), Dialect::Both, 0o640),
            // MinIO reads it only as "others": closing that would stop MinIO.
            (mode(0o644, 0, 0), Dialect::Minio, 0o644),
            (mode(0o666, 0, 0), Dialect::Minio, 0o644),
        ];
        for (m, dialect, want) in cases {
            assert_eq!(private_mode(m, dialect, &minio), want, "{m:?} {dialect:?}");
        }
    }
}
