//! Render: MinIO's EnvironmentFile gets the MINIO_KMS_KES_*
//! variables (and `[env_file.set]`) while every other byte stays the
//! operator's. MinIO's KMS rules hold in the result; a file configuring
//! another KMS is refused untouched.
//!
//! In two halves: [`plan`] reads the file(s) MinIO's environment comes from
//! — safely (crate::files::safe_path), as MinIO and systemd read them — and works
//! out the new contents and the order of the writes; [`commit`] performs
//! them under the host's write lock, with a record of the unfinished change
//! in kesgate's state directory. How kesgate writes (docs/design.md "How kesgate
//! writes"): MinIO's view is the complete old or the complete new
//! configuration at every instant and across the two moments that make it
//! up (systemd reads its file when it starts MinIO, MinIO reads
//! MINIO_CONFIG_ENV_FILE a moment later).

mod commit;
mod desired;
mod diff;
pub(crate) mod edit;
mod error;
mod files;
pub(crate) mod minio_rules;
mod pending;
mod plan;
mod tell;
mod view;

use std::io;
use std::path::{Path, PathBuf};

use crate::config::{EnvFileSettings, KesSettings};
use crate::files::atomic::LockError;
use crate::host::minio_unit::MinioUnit;

pub(crate) use commit::commit;
pub(crate) use pending::finish_unfinished;

const API_KEY: &str = "MINIO_KMS_KES_API_KEY";

use self::{desired::*, files::*, plan::*};
pub(crate) use desired::desired;
pub(crate) use error::RenderError;
pub(crate) use files::{Env, Layout};
pub(crate) use plan::Planned;
pub(crate) use view::{Check, check, minio_view, remove_backups};

/// What a render did or would do.
#[derive(Debug)]
pub(crate) struct Report {
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

/// What a render did or would do, per file.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub layout: Layout,
    /// The systemd file first, then MINIO_CONFIG_ENV_FILE's when it is another.
    pub files: Vec<Report>,
    /// MinIO's own file, which this sandbox may not touch and minio.service's
    /// preflight renders (as root) before every MinIO start.
    pub left_to_preflight: Option<PathBuf>,
}

impl Rendered {
    /// Where the KES variables are, in a few words (for STATUS=).
    pub(crate) fn summary(&self) -> String {
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
pub(crate) enum Action {
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
pub(crate) struct Options<'a> {
    pub action: Action,
    /// A masked diff of every change in the report.
    pub diff: bool,
    /// The configuration in charge, named in the managed block's comment.
    pub config: &'a Path,
}

/// Renders the file(s) (or, with `Action::DryRun`, only says what would
/// change). Writes hold the host's write lock from the first read to the
/// last write: concurrent renders serialise.
pub(crate) async fn render(
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
