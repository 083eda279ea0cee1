//! The writing half of a render: the order of the writes, the writes, and
//! the record of an unfinished change.
//!
//! MinIO's environment is made at two moments: systemd reads its file when
//! it starts MinIO, MinIO reads MINIO_CONFIG_ENV_FILE a moment later. Each
//! file is replaced atomically, but a change of both is two renames; so the
//! order is chosen by computing MinIO's view after every step, and for a
//! start that reads the systemd file before a step and MinIO's file after
//! it, and taking the first order whose every view is the complete old or
//! the complete new configuration: MinIO's file first (its values win); the
//! systemd file first; the systemd file in the one-file form first (a change
//! of auth method while the KES lines move); or MinIO's file first with the
//! systemd file's new values in it too, then the systemd file, then MinIO's
//! file as planned (both files' own variables change). None fits: nothing
//! is written.
//!
//! Before the first write a record of the change goes to kesgate's state
//! directory (it survives a reboot; where the sandbox lets kesgate write),
//! and it goes when the last write is done. A run that finds it completes
//! the change before anything else (crate::chain). Each file's previous
//! content is kept next to it as `NAME.kesgate-prev`, owner-only whatever
//! the file's mode (it held, or holds, a secret).

use std::collections::BTreeSet;
use std::io;
use std::os::fd::AsFd as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::pending::{begin_journal, record_backup, remove_journal};
use super::{Change, Env, File, Planned, RenderError, desired, edit, prev_name, same_file};
use crate::config::{EnvFileSettings, KesSettings};
use crate::files::atomic::{self, Attributes, Mode, step, write_at};
use crate::files::envfile::{self, Dialect, EnvFileError};

/// What MinIO sees for each combination of the files' contents.
pub(super) struct Views {
    base: crate::host::minio_unit::Environment,
    working_directory: PathBuf,
    /// The systemd file's dialect (`Both` when MinIO reads it too).
    systemd: Dialect,
    /// MINIO_CONFIG_ENV_FILE as planned (the second change), if any.
    minio_path: Option<PathBuf>,
    old: Env,
    new: Env,
}

/// One file's content at some moment: `None` = it does not exist.
type Content<'a> = Option<&'a [u8]>;

impl Views {
    pub(super) fn new(
        base: crate::host::minio_unit::Environment,
        working_directory: PathBuf,
        changes: &[Change],
    ) -> Result<Views, RenderError> {
        let mut v = Views {
            base,
            working_directory,
            systemd: changes[0].file.dialect,
            minio_path: changes.get(1).map(|c| c.file.place.path.clone()),
            old: Env::new(),
            new: Env::new(),
        };
        let old: Vec<Content> = changes.iter().map(|c| old_content(&c.file)).collect();
        let new: Vec<Content> = changes.iter().map(|c| Some(c.content.as_slice())).collect();
        v.old = v.view(&old).map_err(|e| changes[0].file.unreadable()(e))?;
        v.new = v.view(&new).map_err(|e| changes[0].file.unreadable()(e))?;
        Ok(v)
    }

    /// MinIO's environment with the systemd file at `contents[0]` and
    /// MINIO_CONFIG_ENV_FILE (when it is the planned one) at `contents[1]`.
    fn view(&self, contents: &[Content]) -> Result<Env, EnvFileError> {
        let systemd = contents[0].unwrap_or_default();
        let mut env = self
            .base
            .around(&envfile::effective(&self.systemd.parse(systemd)?));
        if self.systemd == Dialect::Both {
            env.extend(envfile::effective(&Dialect::Minio.parse(systemd)?));
            return Ok(env);
        }
        let Some(p) = envfile::config_env_file(&env, &self.working_directory) else {
            return Ok(env);
        };
        let bytes = match (&self.minio_path, contents.get(1)) {
            (Some(planned), Some(c)) if same_file(&p, planned) => c.map(<[u8]>::to_vec),
            // Another file than the planned one: as it is on disk.
            _ => crate::files::regular::read(&p, crate::files::regular::MAX_ENV_FILE).ok(),
        };
        if let Some(bytes) = bytes {
            env.extend(envfile::effective(&Dialect::Minio.parse(&bytes)?));
        }
        Ok(env)
    }

    /// "old", "new", or `None` for a view that is neither.
    fn which(&self, contents: &[Content]) -> Option<&'static str> {
        match self.view(contents) {
            Ok(v) if v == self.new => Some("new"),
            Ok(v) if v == self.old => Some("old"),
            _ => None,
        }
    }
}

fn old_content(file: &File) -> Content<'_> {
    file.existing.map(|_| file.old.as_slice())
}

/// The first order of writes whose every moment MinIO could see is the
/// complete old or the complete new configuration.
pub(super) fn order(
    changes: &[Change],
    views: &Views,
    kes: &KesSettings,
    env: &EnvFileSettings,
    config: &Path,
) -> Result<Vec<(usize, Vec<u8>)>, RenderError> {
    let writes: Vec<usize> = (0..changes.len()).filter(|i| changes[*i].write).collect();
    if writes.len() < 2 {
        return Ok(writes
            .into_iter()
            .map(|i| (i, changes[i].content.clone()))
            .collect());
    }
    let (sys, minio) = (&changes[0], &changes[1]);
    let mut candidates = vec![
        vec![(1, minio.content.clone()), (0, sys.content.clone())],
        vec![(0, sys.content.clone()), (1, minio.content.clone())],
    ];
    // The systemd file in the one-file form first: it alone gives MinIO the
    // new values (its MINIO_CONFIG_ENV_FILE does not have them yet).
    if let Ok(mid) = edit::plan(&sys.file.old, &desired(kes, env, config), Dialect::Systemd) {
        candidates.push(vec![
            (0, mid.content),
            (1, minio.content.clone()),
            (0, sys.content.clone()),
        ]);
    }
    // MinIO's file first with the systemd file's new values too (its values
    // win, so MinIO sees the whole new configuration at once), then the
    // systemd file, then MinIO's file as planned. For a change of both
    // files' own variables ([env_file.set] and the KES lines).
    if let Some(mid) = minio_with_new_values(changes, views) {
        candidates.push(vec![
            (1, mid),
            (0, sys.content.clone()),
            (1, minio.content.clone()),
        ]);
    }
    let mut why = String::new();
    for steps in candidates {
        match judge(changes, views, &steps) {
            Ok(()) => return Ok(steps),
            Err(w) if why.is_empty() => why = w,
            Err(_) => {}
        }
    }
    Err(RenderError::NoSafeOrder {
        files: format!(
            "{} and {}",
            sys.file.path.display(),
            minio.file.path.display()
        ),
        why,
    })
}

/// MinIO's planned file plus a line for every value MinIO would still see
/// old with the systemd file as it is.
fn minio_with_new_values(changes: &[Change], views: &Views) -> Option<Vec<u8>> {
    let (sys, minio) = (&changes[0], &changes[1]);
    let seen = views
        .view(&[old_content(&sys.file), Some(minio.content.as_slice())])
        .ok()?;
    let mut content = minio.content.clone();
    if !content.is_empty() && content.last() != Some(&b'\n') {
        content.push(b'\n');
    }
    let mut added = false;
    for (name, value) in &views.new {
        if seen.get(name) != Some(value) {
            content.extend_from_slice(Dialect::Minio.line(name, value).ok()?.as_bytes());
            added = true;
        }
    }
    added.then_some(content)
}

/// Every state after a step, and every start that read the systemd file
/// before a step and MinIO's file after it, is old or new.
fn judge(changes: &[Change], views: &Views, steps: &[(usize, Vec<u8>)]) -> Result<(), String> {
    let mut states: Vec<Vec<Content>> =
        vec![changes.iter().map(|c| old_content(&c.file)).collect()];
    for (i, content) in steps {
        let mut next = states.last().expect("a state").clone();
        next[*i] = Some(content.as_slice());
        states.push(next);
    }
    for (n, s) in states.iter().enumerate() {
        if views.which(s).is_none() {
            return Err(format!("after write {n} MinIO would see a mix"));
        }
        if let Some(later) = states.get(n + 1) {
            let spanning = vec![s[0], later[1]];
            if views.which(&spanning).is_none() {
                return Err(format!("a start during write {} would see a mix", n + 1));
            }
        }
    }
    Ok(())
}

/// Performs the planned writes (the caller holds the write lock).
pub(crate) fn commit(p: &Planned) -> Result<(), RenderError> {
    for c in &p.changes {
        tighten_backup(&c.file);
    }
    if p.steps.is_empty() {
        remove_journal();
        return Ok(());
    }
    let paths: Vec<String> = p
        .changes
        .iter()
        .filter(|c| c.write)
        .map(|c| c.file.place.path.display().to_string())
        .collect();
    begin_journal(&paths);
    for c in p.changes.iter().filter(|c| c.write) {
        atomic::remove_stale(&c.file.place);
    }
    let mut state: Vec<Content> = p.changes.iter().map(|c| old_content(&c.file)).collect();
    let mut backed_up = BTreeSet::new();
    let mut done: Vec<PathBuf> = Vec::new();
    for (idx, content) in &p.steps {
        let c = &p.changes[*idx];
        let file = &c.file;
        let result = (|| -> io::Result<()> {
            step!("commit-step");
            if backed_up.insert(*idx) && file.existing.is_some() && file.old != *content {
                backup(file)?;
            }
            step!("commit-after-backup");
            // Read here, under the lock, only for a file being replaced.
            let attributes = match file.existing {
                Some(_) => Attributes::of_place(&file.place)?,
                None => Attributes::default(),
            };
            write_at(&file.place, content, c.mode, &attributes)
        })();
        if let Err(source) = result {
            // Failed after its rename (the directory's fsync): it is there.
            let landed = atomic::read_at(&file.place, crate::files::regular::MAX_ENV_FILE)
                .ok()
                .flatten()
                .is_some_and(|(now, _)| now == *content);
            if landed {
                state[*idx] = Some(content.as_slice());
                if !done.contains(&file.path) {
                    done.push(file.path.clone());
                }
            }
            // Nothing changed: nothing is unfinished either.
            if done.is_empty() {
                remove_journal();
            }
            return Err(RenderError::Write {
                path: file.path.clone(),
                source,
                state: partial(&p.views, &state, &done),
            });
        }
        state[*idx] = Some(content.as_slice());
        if !done.contains(&file.path) {
            done.push(file.path.clone());
        }
    }
    remove_journal();
    Ok(())
}

/// What a failed write left: nothing, or which files and what MinIO sees.
fn partial(views: &Views, state: &[Content], done: &[PathBuf]) -> String {
    if done.is_empty() {
        return "nothing was written".into();
    }
    let files = done
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ");
    format!(
        "{files} already written; MinIO sees the {} configuration meanwhile, and the next run of kesgate (kesgate.service, MinIO's next start, `kesgate render`) completes the change",
        views.which(state).unwrap_or("old")
    )
}

/// The previous content, owner-only: it held (or holds) a secret.
fn backup(file: &File) -> io::Result<()> {
    let prev = crate::files::safe_path::Place {
        dir: crate::files::safe_path::Dir {
            fd: file.place.dir.fd.try_clone()?,
            path: file.place.dir.path.clone(),
            uid: file.place.dir.uid,
        },
        name: prev_name(&file.place.name),
        path: file.place.dir.path.join(prev_name(&file.place.name)),
    };
    let mode = Mode {
        mode: 0o600,
        uid: file.existing.and_then(|m| m.uid),
        gid: file.existing.and_then(|m| m.gid),
    };
    write_at(&prev, &file.old, mode, &Attributes::default())?;
    record_backup(&prev.path);
    Ok(())
}

/// A backup an older kesgate left readable by others: made owner-only, and
/// said once (the next run finds it private) — with the advice to rotate
/// the API key when it held one.
fn tighten_backup(file: &File) {
    use nix::fcntl::{OFlag, openat};
    let name = prev_name(&file.place.name);
    let Ok(fd) = openat(
        file.place.dir.fd.as_fd(),
        name.as_os_str(),
        OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) else {
        return;
    };
    let f = std::fs::File::from(fd);
    let Ok(meta) = f.metadata() else { return };
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.is_file() || mode & 0o077 == 0 {
        return;
    }
    let path = file.place.dir.path.join(&name);
    if let Err(e) = f.set_permissions(std::fs::Permissions::from_mode(mode & 0o700)) {
        tracing::warn!(
            "{} is readable by others (mode {mode:04o}) and cannot be made private: {e}",
            path.display()
        );
        return;
    }
    use std::io::Read as _;
    let mut text = Vec::new();
    let _ = (&f)
        .take(crate::files::regular::MAX_ENV_FILE)
        .read_to_end(&mut text);
    let held_key = text
        .windows(super::API_KEY.len())
        .any(|w| w == super::API_KEY.as_bytes());
    if held_key {
        tracing::warn!(
            message_id = crate::logging::ids::ENV_CHANGED,
            kesgate_env_file = %path.display(),
            "{} held the KES API key and was readable by others (mode {mode:04o}); made owner-only (mode {:04o})\n  fix: rotate the API key: the old one may have been read (`kesgate identity new`, then KES's policy and [kes] api_key_file)",
            path.display(),
            mode & 0o700
        );
    } else {
        tracing::info!(
            "{} was readable by others (mode {mode:04o}); made owner-only",
            path.display()
        );
    }
}
