//! The one way kesgate writes a file: into a directory reached safely
//! (crate::files::safe_path: tmpfiles' rule, then only relative to the open
//! directory), a temp file created there exclusively with the final owner
//! and a private mode before any byte is written, write, fsync, rename,
//! fsync the directory. A crash leaves the old or the new content, never a
//! torn file, and never a moment where others can read it.
//!
//! Writers are serialised by one lock for the whole host: a 0600 file in
//! kesgate's runtime directory (root's), which no other user can open and
//! so none can hold (a lock on `/etc/default` itself could be taken by
//! anyone who can open the directory). One lock also means one lock order.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg, OFlag, openat, renameat};
use nix::sys::stat::Mode as StatMode;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::files::safe_path::Place;

/// Ownership and permissions for a written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mode {
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Mode {
    /// Owner-only, owned by whoever writes it (root): kesgate's own state
    /// and secrets.
    pub(crate) const PRIVATE: Mode = Mode {
        mode: 0o600,
        uid: None,
        gid: None,
    };
}

/// How long a render waits for another one: renders hold the lock for
/// milliseconds, so a longer hold is a stuck process.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How often a held lock is tried again (also the longest a SIGTERM waits).
const LOCK_POLL: Duration = Duration::from_millis(20);

/// kesgate's runtime directory (crate::inherited decides where it is).
pub(crate) fn runtime_dir() -> PathBuf {
    crate::inherited::runtime_dir()
}

/// kesgate's state directory (survives a reboot).
pub(crate) fn state_dir() -> PathBuf {
    crate::inherited::state_dir()
}

/// The lock could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    #[error("{}", .0)]
    Io(#[from] io::Error),
    #[error("another process holds the lock {} ({holder}); waited {}", path.display(), crate::text::duration(*waited))]
    Held {
        path: PathBuf,
        holder: String,
        waited: Duration,
    },
}

/// kesgate's own directory for `what` (runtime or state): created 0700 if
/// missing; refused when someone else owns it or others may write in it.
pub(crate) fn own_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not kesgate's own directory (a directory owned by uid {me}, writable by no one else); remove it",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// A private lock file `name` in `dir`: 0600, ours, never a link.
fn lock_file(dir: &Path, name: &str) -> io::Result<File> {
    own_dir(dir)?;
    let fd: OwnedFd = nix::fcntl::open(
        &dir.join(name),
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        StatMode::from_bits_truncate(0o600),
    )?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not kesgate's lock file", dir.join(name).display()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// The host's one lock for writing MinIO's env files.
pub(crate) struct WriteLock {
    _lock: Flock<File>,
}

impl WriteLock {
    /// Waits at most `bound` for another holder, without blocking the
    /// runtime (so SIGTERM is still handled).
    pub(crate) async fn acquire(bound: Duration) -> Result<WriteLock, LockError> {
        let path = runtime_dir().join("render.lock");
        let mut retry: crate::retry::Retry<()> = crate::retry::Retry::new(Some(bound), LOCK_POLL);
        let mut file = lock_file(&runtime_dir(), "render.lock")?;
        loop {
            retry.attempt();
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(WriteLock { _lock: lock }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                    if retry.attempts() == 1 {
                        tracing::info!(
                            "waiting up to {} for the lock {} ({})",
                            humantime::format_duration(bound),
                            path.display(),
                            holder(&f)
                        );
                    }
                    if !retry.pause().await {
                        return Err(LockError::Held {
                            holder: holder(&f),
                            path,
                            waited: retry.waited(),
                        });
                    }
                    file = f;
                }
                Err((_, e)) => return Err(io::Error::from(e).into()),
            }
        }
    }
}

/// One try at the private lock `name` in the runtime directory; `None`
/// when another process holds it (never a wait).
pub(crate) fn try_lock(name: &str) -> io::Result<Option<Flock<File>>> {
    let file = lock_file(&runtime_dir(), name)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}

/// A write failure injected by a failpoint (tests with `--features
/// failpoints` only): `kill` and `term` end the process by that signal,
/// the rest return that errno.
#[cfg(feature = "failpoints")]
pub(crate) fn injected(action: Option<String>) -> io::Result<()> {
    let errno = match action.as_deref().unwrap_or_default() {
        "kill" => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            return Ok(());
        }
        "term" => {
            // Handled by the runtime once this synchronous step returns.
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
            return Ok(());
        }
        "enospc" => nix::libc::ENOSPC,
        "erofs" => nix::libc::EROFS,
        "ebusy" => nix::libc::EBUSY,
        "eperm" => nix::libc::EPERM,
        "eacces" => nix::libc::EACCES,
        _ => nix::libc::EIO,
    };
    Err(io::Error::from_raw_os_error(errno))
}

/// A failpoint between two steps of a write.
macro_rules! step {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name, |a| $crate::files::atomic::injected(a));
    };
}
pub(crate) use step;

/// Temp files a killed writer left next to `name` (ours: `.NAME.kesgate-tmp…`),
/// removed under the write lock, when none can be in use.
pub(crate) fn remove_stale(place: &Place) {
    // Ours: `.NAME.kesgate-tmp…` and `.NAME.kesgate-prev.kesgate-tmp…`.
    let mut prefix = OsString::from(".");
    prefix.push(&place.name);
    prefix.push(".");
    let Ok(dir) = place.dir.open_dir() else {
        return;
    };
    let Ok(entries) = nix::dir::Dir::from_fd(dir.into()) else {
        return;
    };
    let mut stale = Vec::new();
    let mut entries = entries;
    for e in entries.iter().flatten() {
        let n = OsStr::from_bytes(e.file_name().to_bytes());
        if n.as_bytes().starts_with(prefix.as_bytes())
            && n.as_bytes().windows(12).any(|w| w == b".kesgate-tmp")
        {
            stale.push(n.to_owned());
        }
    }
    for n in stale {
        let _ = unlinkat(
            place.dir.fd.as_fd(),
            n.as_os_str(),
            UnlinkatFlags::NoRemoveDir,
        );
    }
}

fn temp_prefix(name: &OsStr) -> OsString {
    let mut p = OsString::from(".");
    p.push(name);
    p.push(".kesgate-tmp");
    p
}

/// Replaces `path` (reached by the no-follow walk) with `content`,
/// atomically and durably, as an owner-only file: kesgate's own state and
/// secrets, no attributes carried over.
pub(crate) fn write_private(path: &Path, content: &[u8]) -> io::Result<()> {
    let place = crate::files::safe_path::place(path).map_err(io::Error::other)?;
    write_at(&place, content, Mode::PRIVATE, &Attributes::default())
}

/// Creates `path` as a new owner-only file holding `content`: never an
/// existing file, nor one through a link (O_CREAT|O_EXCL refuses both),
/// and never readable by others, not even while it is written.
pub(crate) fn create_private(path: &Path, content: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content)?;
    f.sync_all()
}

/// Replaces `place` with `content` atomically and durably; the new file
/// carries `attributes` (the replaced file's POSIX ACLs, SELinux label and
/// other xattrs).
pub(crate) fn write_at(
    place: &Place,
    content: &[u8],
    mode: Mode,
    attributes: &Attributes,
) -> io::Result<()> {
    let dir = &place.dir;
    // An exclusive create in the safe directory, 0600 before any byte.
    let (tmp_name, tmp) = {
        let mut tries = 0;
        loop {
            let mut name = temp_prefix(&place.name);
            name.push(format!("{:08x}", fastrand::u32(..)));
            match openat(
                dir.fd.as_fd(),
                name.as_os_str(),
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                StatMode::from_bits_truncate(0o600),
            ) {
                Ok(fd) => break (name, File::from(fd)),
                Err(nix::errno::Errno::EEXIST) if tries < 100 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let cleanup = |e: io::Error| {
        let _ = unlinkat(
            dir.fd.as_fd(),
            tmp_name.as_os_str(),
            UnlinkatFlags::NoRemoveDir,
        );
        e
    };
    let result = (|| {
        // Before the chown: setting an ACL needs the file's owner (or
        // CAP_FOWNER). The mode set below leaves named ACL entries as they
        // were and sets the ACL mask from the group bits, as chmod does.
        attributes.apply(&tmp)?;
        // chown only when the owner differs: the hardened unit has neither
        // CAP_CHOWN nor the chown system calls, and root:root needs neither.
        let meta = tmp.metadata()?;
        let uid = mode.uid.filter(|u| *u != meta.uid());
        let gid = mode.gid.filter(|g| *g != meta.gid());
        if uid.is_some() || gid.is_some() {
            nix::unistd::fchown(tmp.as_fd(), uid.map(Into::into), gid.map(Into::into)).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "cannot give the file owner {} group {} ({e}); for a file not owned by root, \
                         kesgate.service needs CapabilityBoundingSet=CAP_CHOWN and SystemCallFilter=@chown",
                        uid.map_or_else(|| "unchanged".to_owned(), |u| u.to_string()),
                        gid.map_or_else(|| "unchanged".to_owned(), |g| g.to_string()),
                    ),
                )
            })?;
        }
        tmp.set_permissions(std::fs::Permissions::from_mode(mode.mode & 0o700))?;
        (&tmp).write_all(content)?;
        tmp.sync_all()?;
        // Widening to a group/other mode happens only for content the caller
        // decided is not secret, and still before the file has its name.
        tmp.set_permissions(std::fs::Permissions::from_mode(mode.mode))?;
        step!("write-before-rename");
        renameat(
            dir.fd.as_fd(),
            tmp_name.as_os_str(),
            dir.fd.as_fd(),
            place.name.as_os_str(),
        )?;
        Ok(())
    })();
    result.map_err(cleanup)?;
    step!("write-after-rename");
    dir.open_dir()?.sync_all()
}

/// Reads the regular file at `place` (never following a link there, never
/// blocking), at most `cap` bytes; `None` when it does not exist.
pub(crate) fn read_at(
    place: &Place,
    cap: u64,
) -> Result<Option<(Vec<u8>, std::fs::Metadata)>, crate::files::regular::ReadError> {
    use crate::files::regular::{FileKind, ReadError};
    // Look before opening: a FIFO or device is never opened.
    match place.dir.kind_of(&place.name) {
        Ok(Some(FileKind::Regular)) => {}
        Ok(Some(kind)) => return Err(ReadError::NotRegular(kind)),
        Ok(None) => return Ok(None),
        Err(e) => return Err(ReadError::Io(e.into())),
    }
    let fd = openat(
        place.dir.fd.as_fd(),
        place.name.as_os_str(),
        OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        StatMode::empty(),
    )
    .map_err(|e| ReadError::Io(e.into()))?;
    crate::files::regular::read_open(File::from(fd), cap).map(Some)
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
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return unknown();
    };
    let ours = std::process::id().to_string();
    for line in locks.lines().filter(|l| !l.contains("->")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:131 0 EOF"
        if f.len() >= 6 && f[1] == "FLOCK" && f[5] == id && f[4] != ours {
            let pid = f[4];
            let comm = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let args: Vec<String> = c
                        .split(|b| *b == 0)
                        .filter(|a| !a.is_empty())
                        .take(4)
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect();
                    crate::text::cut(&args.join(" "))
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
pub(crate) struct Attributes(Vec<(std::ffi::OsString, Vec<u8>)>);

impl Attributes {
    /// Those of the file at `place` (through its directory's descriptor).
    pub(crate) fn of_place(place: &Place) -> io::Result<Attributes> {
        Attributes::of(&place.dir.proc_path(&place.name))
    }

    /// Those of the file at `path`; none where the file system has none.
    pub(crate) fn of(path: &Path) -> io::Result<Attributes> {
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
        std::fs::write(dir.path().join(".minio.kesgate-tmpSTALE"), "old secret").unwrap();
        let place = crate::files::safe_path::place(&path).unwrap();
        remove_stale(&place);
        assert!(!dir.path().join(".minio.kesgate-tmpSTALE").exists());
        let mode = Mode {
            mode: 0o640,
            uid: None,
            gid: None,
        };
        write_at(&place, b"A=1\n", mode, &Attributes::default()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"A=1\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let (bytes, _) = read_at(&place, 100).unwrap().unwrap();
        assert_eq!(bytes, b"A=1\n");
    }
}
