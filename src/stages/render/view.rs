//! Read-only looks: MinIO's view of its environment, and `render --check`.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::{EnvFileSettings, KesSettings};
use crate::files::envfile::{self, Dialect};
use crate::host::minio_unit::MinioUnit;

use super::*;

/// MinIO's environment as it is now, file by file: what `init --adopt`
/// reads (the same files and parsers as `--check`, nothing written).
#[derive(Debug)]
pub(crate) struct MinioView {
    /// The environment MinIO starts with.
    pub effective: Env,
    /// (file, what its reader — or, for a file both read, each reader —
    /// takes from it); the systemd file first.
    pub files: Vec<(PathBuf, Vec<Env>)>,
}

/// Reads MinIO's environment file(s) as MinIO and systemd will.
pub(crate) fn minio_view(
    env: &EnvFileSettings,
    unit: &MinioUnit,
) -> Result<MinioView, RenderError> {
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
pub(crate) struct Check {
    /// The file MinIO takes the KES variables from.
    pub path: PathBuf,
    pub layout: Layout,
    pub exists: bool,
    /// Why MinIO would refuse its environment; empty = accepted.
    pub minio_problems: Vec<String>,
    /// Variables that differ from the configuration (in MinIO's view, or
    /// left over in the systemd file), with the file they are in.
    pub drift: Vec<String>,
    /// The environment MinIO starts with, from the files as they are now
    /// (read once: `status` takes the fleet fingerprint from it).
    pub effective: Env,
}

/// Judges MinIO's effective environment as MinIO will compute it: the
/// systemd file, then MINIO_CONFIG_ENV_FILE over it (from MinIO's working
/// directory, read as MinIO's user, with MinIO's reader).
pub(crate) fn check(
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
        effective: seen,
    })
}

/// Removes the backups kesgate made of MinIO's env files
/// (`NAME.kesgate-prev`, a regular file only: nothing else of that name is
/// touched): what they held before the last render, a retired API key
/// among it. Returns the files removed.
pub(crate) fn remove_backups(
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    config: &Path,
) -> Result<Vec<PathBuf>, RenderError> {
    let files = files(kes, env, unit, config)?;
    let mut removed = Vec::new();
    for (file, _) in &files.plans {
        let name = prev_name(&file.place.name);
        let path = file.place.dir.path.join(&name);
        let gone = |e: nix::Error| RenderError::Read {
            path: path.clone(),
            source: e.into(),
        };
        if file.place.dir.kind_of(&name).map_err(gone)?
            != Some(crate::files::regular::FileKind::Regular)
        {
            continue;
        }
        nix::unistd::unlinkat(
            std::os::fd::AsFd::as_fd(&file.place.dir.fd),
            name.as_os_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        )
        .map_err(gone)?;
        removed.push(path);
    }
    Ok(removed)
}
