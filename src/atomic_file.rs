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

impl DirLock {
    /// Locks the directory of `path` (blocking), then removes temp files a
    /// killed writer left behind: holding the lock, none can be in use.
    pub fn acquire(path: &Path) -> io::Result<DirLock> {
        let dir = parent(path).to_owned();
        let file = File::open(&dir)?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
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
        // tempfile creates the file 0600: private before anything is written.
        let mut tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(path))
            .tempfile_in(&self.dir)?;
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
        let lock = DirLock::acquire(&path).unwrap();
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
