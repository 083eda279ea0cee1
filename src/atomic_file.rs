//! The one way kesgate writes a file: temp file in the target directory with
//! the final owner and a private mode before any byte is written, write,
//! fsync, rename, fsync the directory. A crash leaves the old or the new
//! content, never a torn file, and never a moment where others can read it.
//! Renders are serialised with flock(2) on the directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

/// Holds an exclusive flock on a directory for as long as it lives.
pub struct DirLock {
    _lock: Flock<File>,
    dir: PathBuf,
}

/// Ownership and permissions for a written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.kesgate-tmp")
}

/// How long a render waits for another one holding the directory: renders
/// hold it for milliseconds, so a longer hold is a stuck process.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How often a held lock is tried again (also the longest a SIGTERM waits).
const LOCK_POLL: Duration = Duration::from_millis(20);

/// The lock on a directory could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}", .0)]
    Io(#[from] io::Error),
    #[error("another process holds the lock on {} ({holder}); waited {}", dir.display(), humantime::format_duration(*waited))]
    Held {
        dir: PathBuf,
        holder: String,
        waited: Duration,
    },
}

/// One try at the lock.
enum Attempt {
    Locked(DirLock),
    /// Another process holds it: the directory, to try again.
    Busy(File),
}

impl DirLock {
    /// Locks the directory of `path`, waiting at most `bound` for another
    /// holder without blocking the runtime (so SIGTERM is still handled),
    /// then removes temp files a killed writer left behind: holding the
    /// lock, none can be in use.
    pub async fn acquire(path: &Path, bound: Duration) -> Result<DirLock, LockError> {
        let (dir, started) = (parent(path).to_owned(), std::time::Instant::now());
        let mut file = open_dir(&dir)?;
        let mut told = false;
        loop {
            file = match Self::try_lock(path, &dir, file, started, bound)? {
                Attempt::Locked(lock) => return Ok(lock),
                Attempt::Busy(f) => f,
            };
            if !told {
                tracing::info!(
                    "waiting up to {} for the lock on {} ({})",
                    humantime::format_duration(bound),
                    dir.display(),
                    holder(&file)
                );
                told = true;
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// The same outside the runtime, for kesgate's own short-lived files
    /// (a bounded wait; a lock still held after it is an error).
    pub fn acquire_blocking(path: &Path, bound: Duration) -> Result<DirLock, LockError> {
        let (dir, started) = (parent(path).to_owned(), std::time::Instant::now());
        let mut file = open_dir(&dir)?;
        loop {
            file = match Self::try_lock(path, &dir, file, started, bound)? {
                Attempt::Locked(lock) => return Ok(lock),
                Attempt::Busy(f) => f,
            };
            std::thread::sleep(LOCK_POLL);
        }
    }

    /// One try: the lock; the directory back while another holds it and
    /// `bound` has not passed since `started`; else why not.
    fn try_lock(
        path: &Path,
        dir: &Path,
        file: File,
        started: std::time::Instant,
        bound: Duration,
    ) -> Result<Attempt, LockError> {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Attempt::Locked(Self::locked(path, dir.to_owned(), lock)?)),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if started.elapsed() < bound => {
                Ok(Attempt::Busy(f))
            }
            Err((f, nix::errno::Errno::EWOULDBLOCK)) => Err(LockError::Held {
                holder: holder(&f),
                dir: dir.to_owned(),
                waited: started.elapsed(),
            }),
            Err((_, e)) => Err(io::Error::from(e).into()),
        }
    }

    fn locked(path: &Path, dir: PathBuf, lock: Flock<File>) -> io::Result<DirLock> {
        // Ours: `.NAME.kesgate-tmp…` and `.NAME.kesgate-prev.kesgate-tmp…`.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ours = |n: &str| n.starts_with(&format!(".{name}.")) && n.contains(".kesgate-tmp");
        for entry in fs::read_dir(&dir)?.flatten() {
            if ours(&entry.file_name().to_string_lossy()) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(DirLock { _lock: lock, dir })
    }

    /// Whether `path` lives in the locked directory.
    pub fn covers(&self, path: &Path) -> bool {
        fs::canonicalize(parent(path)).ok() == fs::canonicalize(&self.dir).ok()
    }

    /// Replaces `path` with `content` atomically and durably.
    pub fn write(&self, path: &Path, content: &[u8], mode: Mode) -> io::Result<()> {
        self.write_keeping(path, content, mode, &Attributes::default())
    }

    /// As [`DirLock::write`], and the new file carries `attributes` (the
    /// replaced file's POSIX ACLs, SELinux label and other xattrs).
    pub fn write_keeping(
        &self,
        path: &Path,
        content: &[u8],
        mode: Mode,
        attributes: &Attributes,
    ) -> io::Result<()> {
        // tempfile creates the file 0600: private before anything is written.
        let mut tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(path))
            .tempfile_in(&self.dir)?;
        // Before the chown: setting an ACL needs the file's owner (or
        // CAP_FOWNER). The mode set below leaves named ACL entries as they
        // were and sets the ACL mask from the group bits, as chmod does.
        attributes.apply(tmp.as_file())?;
        // chown only when the owner differs: the hardened unit has neither
        // CAP_CHOWN nor the chown system calls, and root:root needs neither.
        let meta = tmp.as_file().metadata()?;
        let uid = mode.uid.filter(|u| *u != meta.uid());
        let gid = mode.gid.filter(|g| *g != meta.gid());
        if uid.is_some() || gid.is_some() {
            nix::unistd::fchown(tmp.as_file().as_fd(), uid.map(Into::into), gid.map(Into::into)).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "cannot give the file owner {uid:?} group {gid:?} ({e}); for a file not owned by root, \
                         kesgate.service needs CapabilityBoundingSet=CAP_CHOWN and SystemCallFilter=@chown"
                    ),
                )
            })?;
        }
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode.mode & 0o700))?;
        tmp.write_all(content)?;
        tmp.as_file().sync_all()?;
        // Widening to a group/other mode happens only for content the caller
        // decided is not secret, and still before the file has its name.
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode.mode))?;
        tmp.persist(path).map_err(|e| e.error)?;
        File::open(&self.dir)?.sync_all()
    }
}

/// The directory itself (never a FIFO or device in its place: no blocking).
fn open_dir(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    File::options()
        .read(true)
        .custom_flags((nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_NONBLOCK).bits())
        .open(dir)
}

/// Who holds the flock on `dir`, from /proc/locks (a hardened unit may not
/// see it: then only that someone does).
fn holder(dir: &File) -> String {
    let unknown = || "its holder is not visible to this process".to_owned();
    let Ok(meta) = dir.metadata() else {
        return unknown();
    };
    let dev = meta.dev();
    let id = format!(
        "{:02x}:{:02x}:{}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev),
        meta.ino()
    );
    let Ok(locks) = fs::read_to_string("/proc/locks") else {
        return unknown();
    };
    let ours = std::process::id().to_string();
    for line in locks.lines().filter(|l| !l.contains("->")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:131 0 EOF"
        if f.len() >= 6 && f[1] == "FLOCK" && f[5] == id && f[4] != ours {
            let pid = f[4];
            let comm = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let args: Vec<String> = c
                        .split(|b| *b == 0)
                        .filter(|a| !a.is_empty())
                        .take(4)
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect();
                    crate::peer_text::cut(&args.join(" "))
                })
                .unwrap_or_default();
            return if comm.is_empty() {
                format!("pid {pid}")
            } else {
                format!("pid {pid}: {comm}")
            };
        }
    }
    unknown()
}

/// Extended attributes of a file (POSIX ACLs are `system.posix_acl_*`),
/// carried over to the file that replaces it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Attributes(Vec<(std::ffi::OsString, Vec<u8>)>);

impl Attributes {
    /// Those of the file at `path`; none where the file system has none.
    pub fn of(path: &Path) -> io::Result<Attributes> {
        let names = match xattr::list(path) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => {
                return Ok(Attributes::default());
            }
            Err(e) => return Err(e),
        };
        let mut all = Vec::new();
        for name in names {
            if let Some(value) = xattr::get(path, &name)? {
                all.push((name, value));
            }
        }
        Ok(Attributes(all))
    }

    fn apply(&self, file: &File) -> io::Result<()> {
        use xattr::FileExt as _;
        for (name, value) in &self.0 {
            // Often already so (an SELinux label from the directory's
            // default): then nothing to set, and no permission needed.
            if file.get_xattr(name).ok().flatten().as_deref() == Some(value.as_slice()) {
                continue;
            }
            file.set_xattr(name, value).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot keep the extended attribute {} of the file it replaces ({e}); nothing was replaced",
                        name.to_string_lossy()
                    ),
                )
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_cleans_stale_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("minio");
        fs::write(dir.path().join(".minio.kesgate-tmpSTALE"), "old secret").unwrap();
        fs::write(
            dir.path().join(".minio.kesgate-prev.kesgate-tmpSTALE"),
            "old secret",
        )
        .unwrap();
        let lock = DirLock::acquire_blocking(&path, LOCK_WAIT).unwrap();
        assert!(!dir.path().join(".minio.kesgate-tmpSTALE").exists());
        assert!(
            !dir.path()
                .join(".minio.kesgate-prev.kesgate-tmpSTALE")
                .exists()
        );
        lock.write(
            &path,
            b"A=1\n",
            Mode {
                mode: 0o640,
                uid: None,
                gid: None,
            },
        )
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"A=1\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
