//! Stage 2, render: MinIO's EnvironmentFile gets the MINIO_KMS_KES_*
//! variables (and `[env_file.set]`) while every other byte stays the
//! operator's. MinIO's KMS rules hold in the result; a file configuring
//! another KMS is refused untouched.

pub mod edit;
pub mod envfile;
pub mod minio_rules;

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::atomic_file::{DirLock, Mode};
use crate::config::{Auth, EnvFileSettings, KesSettings};
use edit::{Desired, Plan};
use envfile::EnvFileError;

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
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
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
    set.extend(env.set.iter().cloned());
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

/// Current content (empty when missing) and its mode, if it exists.
fn read(path: &Path) -> Result<(Vec<u8>, Option<Mode>), RenderError> {
    match fs::read(path) {
        Ok(bytes) => {
            let meta = fs::metadata(path).map_err(|source| RenderError::Read {
                path: path.to_owned(),
                source,
            })?;
            let mode = Mode {
                mode: meta.permissions().mode() & 0o7777,
                uid: Some(meta.uid()),
                gid: Some(meta.gid()),
            };
            Ok((bytes, Some(mode)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((Vec::new(), None)),
        Err(source) => Err(RenderError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Plans against `old`: refuses other KMS families, checks MinIO's rules on
/// the result.
fn plan(path: &Path, old: &[u8], desired: &Desired) -> Result<Plan, RenderError> {
    let unreadable = |source| RenderError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let assignments = envfile::parse(old).map_err(unreadable)?;
    let env = edit::effective(&assignments);
    let others = minio_rules::other_families(&env);
    if !others.is_empty() {
        let found = others
            .iter()
            .map(|name| {
                let a = assignments
                    .iter()
                    .rev()
                    .find(|a| &a.key == name)
                    .expect("present");
                let line = old[..a.span.start].iter().filter(|b| **b == b'\n').count() + 1;
                format!("{name} on line {line}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(RenderError::OtherKms {
            path: path.to_owned(),
            found,
        });
    }
    let plan = edit::plan(old, desired).map_err(unreadable)?;
    let after = edit::effective(&envfile::parse(&plan.content).map_err(unreadable)?);
    let problems = minio_rules::problems(&after);
    if !problems.is_empty() {
        return Err(RenderError::Invariant {
            path: path.to_owned(),
            problems: problems.join("; "),
        });
    }
    Ok(plan)
}

/// Renders the file (or, with `dry_run`, only says what would change).
pub fn render(
    kes: &KesSettings,
    env: &EnvFileSettings,
    dry_run: bool,
    want_diff: bool,
) -> Result<Report, RenderError> {
    let path = env.path.as_path();
    let write_err = |source| RenderError::Write {
        path: path.to_owned(),
        source,
    };
    // The lock covers read-modify-write: concurrent renders serialise.
    let lock = if dry_run {
        None
    } else {
        Some(DirLock::acquire(path).map_err(write_err)?)
    };
    let (old, existing) = read(path)?;
    let desired = desired(kes, env);
    let plan = plan(path, &old, &desired)?;
    let mut mode = existing.unwrap_or(Mode {
        mode: env.mode,
        uid: env.uid,
        gid: env.gid,
    });
    let mut tightened = None;
    if has_secret(kes) && mode.mode & 0o077 != 0 {
        tightened = Some((mode.mode, mode.mode & !0o077));
        mode.mode &= !0o077;
    }
    let diff = want_diff.then(|| masked_diff(path, &old, &plan.content));
    let unchanged = plan.is_noop(&old) && existing.is_some() && tightened.is_none();
    let mut report = Report {
        path: path.to_owned(),
        changed: plan.changed,
        removed: plan.removed,
        written: false,
        tightened,
        diff,
    };
    if unchanged || dry_run {
        return Ok(report);
    }
    let lock = lock.expect("held when writing");
    if existing.is_some() && old != plan.content {
        let prev = PathBuf::from(format!("{}.kesgate-prev", path.display()));
        lock.write(&prev, &old, mode).map_err(write_err)?;
    }
    lock.write(path, &plan.content, mode).map_err(write_err)?;
    report.written = true;
    Ok(report)
}

/// The answer of `kesgate render --check`.
#[derive(Debug)]
pub struct Check {
    pub path: PathBuf,
    pub exists: bool,
    /// Why MinIO would refuse the file; empty = accepted.
    pub minio_problems: Vec<String>,
    /// Variables that differ from the configuration.
    pub drift: Vec<String>,
}

pub fn check(kes: &KesSettings, env: &EnvFileSettings) -> Result<Check, RenderError> {
    let path = env.path.as_path();
    let (old, existing) = read(path)?;
    let assignments = envfile::parse(&old).map_err(|source| RenderError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let mut minio_problems = minio_rules::problems(&edit::effective(&assignments));
    let others = minio_rules::other_families(&edit::effective(&assignments));
    if !others.is_empty() && minio_problems.is_empty() {
        minio_problems.push(format!("another KMS is configured ({})", others.join(", ")));
    }
    let plan = edit::plan(&old, &desired(kes, env)).map_err(|source| RenderError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let mut drift = plan.changed;
    drift.extend(plan.removed.into_iter().map(|(n, _)| n));
    if drift.is_empty() && !plan.content.eq(&old) {
        drift.push("duplicate assignments".into());
    }
    Ok(Check {
        path: path.to_owned(),
        exists: existing.is_some(),
        minio_problems,
        drift,
    })
}

/// A unified diff in which secret values read `<redacted>`; a secret that
/// changes reads `<redacted: new value>` on the new side.
fn masked_diff(path: &Path, old: &[u8], new: &[u8]) -> String {
    let secrets = |bytes: &[u8]| {
        envfile::parse(bytes)
            .map(|a| {
                edit::effective(&a)
                    .into_iter()
                    .filter(|(k, _)| is_secret_name(k))
                    .collect()
            })
            .unwrap_or_else(|_| std::collections::BTreeMap::new())
    };
    let (before, after) = (secrets(old), secrets(new));
    let changed = |name: &str| before.get(name) != after.get(name);
    let (old, new) = (mask(old, &|_| false), mask(new, &changed));
    let name = path.display().to_string();
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .header(&name, &format!("{name} (rendered)"))
        .to_string()
}

fn is_secret_name(name: &str) -> bool {
    ["API_KEY", "PASSWORD", "SECRET", "TOKEN"]
        .iter()
        .any(|s| name.contains(s))
}

fn mask(bytes: &[u8], changed: &dyn Fn(&str) -> bool) -> String {
    let Ok(assignments) = envfile::parse(bytes) else {
        return "<unreadable>\n".into();
    };
    let mut out = String::new();
    let mut at = 0;
    let text = String::from_utf8_lossy(bytes);
    for a in assignments.iter().filter(|a| is_secret_name(&a.key)) {
        out.push_str(&text[at..a.span.start]);
        let note = if changed(&a.key) { ": new value" } else { "" };
        out.push_str(&format!("{}=<redacted{note}>\n", a.key));
        at = a.span.end;
    }
    out.push_str(&text[at..]);
    out
}
