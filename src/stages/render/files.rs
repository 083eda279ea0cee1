//! MinIO's environment file(s) as MinIO and systemd read them: where
//! they are (reached safely), their layout, and MinIO's view of them.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::{EnvFileSettings, KesSettings};
use crate::files::atomic::Mode;
use crate::files::envfile::{self, Dialect, EnvFileError};
use crate::files::regular::{self, ReadError};
use crate::files::safe_path::{Place, SafePathError};
use crate::host::minio_unit::{Environment, MinioUnit};
use edit::{Desired, Plan};

use super::*;

/// Where writes to `path` land, reached as systemd-tmpfiles would: a link
/// in a root-owned directory is followed (its target is replaced in its own
/// directory, the link stays), none through another user's directory.
pub(super) fn place_of(path: &Path) -> Result<Place, RenderError> {
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
pub(super) fn prev_name(name: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut n = name.to_owned();
    n.push(".kesgate-prev");
    n
}

/// Where MinIO reads its variables. systemd reads `[env_file] path`; when
/// that sets MINIO_CONFIG_ENV_FILE, MinIO reads the named file itself and
/// its values override systemd's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
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
pub(super) fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}

pub(super) fn layout(systemd_path: &Path, systemd_env: &Env, working_directory: &Path) -> Layout {
    match envfile::config_env_file(systemd_env, working_directory) {
        None => Layout::One,
        Some(p) if same_file(&p, systemd_path) => Layout::Shared,
        Some(p) => Layout::Split(p),
    }
}

/// One file as read: its bytes, mode and dialect.
pub(super) struct File {
    /// As configured (in messages).
    pub(super) path: PathBuf,
    /// Where it is read and written, safely.
    pub(super) place: Place,
    pub(super) dialect: Dialect,
    pub(super) old: Vec<u8>,
    pub(super) existing: Option<Mode>,
}

impl File {
    pub(super) fn read(path: &Path, dialect: Dialect) -> Result<File, RenderError> {
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

    pub(super) fn unreadable(&self) -> impl Fn(EnvFileError) -> RenderError + '_ {
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

    pub(super) fn assignments(&self) -> Result<Vec<envfile::Assignment>, RenderError> {
        self.dialect.parse(&self.old).map_err(self.unreadable())
    }

    /// The values MinIO ends up with from this file. For a file both read,
    /// MinIO's parse is the later one and wins.
    pub(super) fn minio_view(bytes: &[u8], dialect: Dialect) -> Result<Env, EnvFileError> {
        let mut env = envfile::effective(&dialect.parse(bytes)?);
        if dialect == Dialect::Both {
            env.extend(envfile::effective(&Dialect::Minio.parse(bytes)?));
        }
        Ok(env)
    }

    /// Whether MinIO reads this file itself (MINIO_CONFIG_ENV_FILE).
    pub(super) fn read_by_minio(&self) -> bool {
        matches!(self.dialect, Dialect::Minio | Dialect::Both)
    }

    /// Refuses a file configuring another KMS, naming its lines.
    pub(super) fn refuse_other_kms(&self) -> Result<(), RenderError> {
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

    pub(super) fn plan(&self, desired: &Desired) -> Result<Plan, RenderError> {
        edit::plan(&self.old, desired, self.dialect).map_err(self.unreadable())
    }
}

/// The files and what each must say, for the layout the systemd file sets.
pub(super) struct Files {
    pub(super) layout: Layout,
    /// (file, what it must say); the systemd file first.
    pub(super) plans: Vec<(File, Desired)>,
    /// What systemd gives MinIO around kesgate's file, in its order.
    pub(super) base: Environment,
    pub(super) working_directory: PathBuf,
}

/// The layout follows the systemd file as it will be: `[env_file.set]`
/// may name a MINIO_CONFIG_ENV_FILE of its own, which is then read (and
/// written) in the same render.
pub(super) fn files(
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
pub(crate) type Env = std::collections::BTreeMap<String, String>;

/// The environment MinIO would see after `contents` (one per file, in order).
pub(super) fn minio_env(files: &Files, contents: &[&[u8]]) -> Result<Env, RenderError> {
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
pub(super) fn at_its_place(env: &mut Env, base: &Environment, i: usize, view: Env) {
    if i == 0 {
        *env = base.around(&view);
    } else {
        env.extend(view);
    }
}

/// Why MinIO's user could not read a file MinIO reads itself (MinIO exits:
/// "Unable to read the config environment file"); `None` when it can, or
/// when kesgate does not know who MinIO runs as.
pub(super) fn minio_cannot_read(file: &File, unit: &MinioUnit) -> Option<String> {
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
