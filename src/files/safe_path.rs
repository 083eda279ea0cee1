//! Resolving a path kesgate (as root) will write, the way systemd-tmpfiles
//! does it (`chase()` with CHASE_SAFE): one component at a time from `/`,
//! never through a symbolic link blindly. A step from a directory owned by
//! a user other than root to anything owned by someone else is an "unsafe
//! path transition" and refused: whoever owns a directory can replace what
//! is in it at any moment, so root must not trust a link planted there to
//! lead into root's files (or into the planter's own file elsewhere). A
//! link in a root-owned directory (`/etc/default/minio` → …) is followed.
//!
//! The result is an open descriptor of the final directory and the file's
//! name in it: every later read, write and rename happens relative to that
//! descriptor, so swapping a path component afterwards changes nothing.
//! Uses `openat(O_PATH|O_NOFOLLOW)` and `readlinkat` only (no `openat2`,
//! which needs Linux 5.6: EL8's 4.18 is the floor).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

/// Links followed at most (as the kernel's 40).
const MAX_LINKS: usize = 40;

/// Why a path cannot be written safely.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SafePathError {
    #[error(
        "unsafe path transition: {from} belongs to uid {from_uid}, and {to} in it to {}{}",
        to_uid.map_or_else(|| "another owner".to_owned(), |u| format!("uid {u}")),
        if *via_link { " (through a symbolic link)" } else { "" }
    )]
    Unsafe {
        from: PathBuf,
        from_uid: u32,
        to: PathBuf,
        to_uid: Option<u32>,
        via_link: bool,
    },
    #[error("{path}: more than {MAX_LINKS} symbolic links")]
    Loop { path: PathBuf },
    #[error("{path} does not exist")]
    Missing { path: PathBuf },
    #[error("{path} is not a directory")]
    NotDirectory { path: PathBuf },
    #[error("{path}: {errno}")]
    Os { path: PathBuf, errno: Errno },
}

/// A directory held open, with the path it was reached by (for messages)
/// and its owner.
#[derive(Debug)]
pub(crate) struct Dir {
    pub fd: OwnedFd,
    pub path: PathBuf,
    pub uid: u32,
}

/// Where a file lives, safely: its directory and its name there. `path`
/// is the file as reached (links resolved), for messages and locks.
#[derive(Debug)]
pub(crate) struct Place {
    pub dir: Dir,
    pub name: OsString,
    pub path: PathBuf,
}

fn os(path: &Path, errno: Errno) -> SafePathError {
    match errno {
        Errno::ENOENT => SafePathError::Missing {
            path: path.to_owned(),
        },
        Errno::ENOTDIR => SafePathError::NotDirectory {
            path: path.to_owned(),
        },
        errno => SafePathError::Os {
            path: path.to_owned(),
            errno,
        },
    }
}

fn open_path(dir: &impl AsFd, name: &OsStr, at: &Path) -> Result<OwnedFd, SafePathError> {
    openat(
        dir.as_fd(),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| os(at, e))
}

fn stat_fd(fd: &impl AsFd, at: &Path) -> Result<FileStat, SafePathError> {
    fstat(fd.as_fd()).map_err(|e| os(at, e))
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// The unsafe transition rule: a directory owned by a non-root user may
/// only lead to things of that same user.
fn check(dir: &Dir, to: &Path, to_uid: u32, via_link: bool) -> Result<(), SafePathError> {
    if dir.uid != 0 && dir.uid != to_uid {
        return Err(SafePathError::Unsafe {
            from: dir.path.clone(),
            from_uid: dir.uid,
            to: to.to_owned(),
            to_uid: Some(to_uid),
            via_link,
        });
    }
    Ok(())
}

fn root() -> Result<Dir, SafePathError> {
    let path = PathBuf::from("/");
    let fd = openat(
        nix::fcntl::AT_FDCWD,
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| os(&path, e))?;
    let uid = stat_fd(&fd, &path)?.st_uid;
    Ok(Dir { fd, path, uid })
}

/// Resolves `path` (made absolute from the working directory) to the
/// directory that holds its last component and that component's name,
/// following links only where the rule allows; the final file need not
/// exist. A final symbolic link is followed too (the file it names is the
/// one written); it must lead to a regular file or to nothing.
pub(crate) fn place(path: &Path) -> Result<Place, SafePathError> {
    walk(path, Rule::Tmpfiles)
}

/// For a file kesgate replaces by a rename in a directory another user
/// may own or write (node_exporter's textfile directory, whose parent
/// Debian gives to `prometheus`): the last component is never looked at
/// or followed (whatever has that name is replaced, never written
/// through); no link is followed out of a directory that is not root's;
/// and a step from such a directory to one of root's is allowed — with no
/// link followed, it only reaches what lies inside that user's own tree,
/// where a 0644 metrics file hands them nothing.
pub(crate) fn place_entry(path: &Path) -> Result<Place, SafePathError> {
    walk(path, Rule::Shared)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// systemd-tmpfiles' rule; a final link is followed.
    Tmpfiles,
    /// [`place_entry`]'s rule.
    Shared,
}

fn walk(path: &Path, rule: Rule) -> Result<Place, SafePathError> {
    let absolute = std::path::absolute(path).map_err(|e| SafePathError::Os {
        path: path.to_owned(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc_einval())),
    })?;
    // Components still to walk, last first.
    let mut todo: Vec<OsString> = components(&absolute);
    todo.reverse();
    let mut dir = root()?;
    let mut links = 0;
    // The directory a link was found in: its owner must accept the jump.
    while let Some(name) = todo.pop() {
        if name == ".." {
            // Up from the directory held, not by its path (which another
            // user may have changed meanwhile); `/..` is `/`.
            let up = dir.path.parent().unwrap_or(Path::new("/")).to_owned();
            let fd = openat(
                dir.fd.as_fd(),
                "..",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| os(&up, e))?;
            let uid = stat_fd(&fd, &up)?.st_uid;
            // Up out of another user's directory is a transition too.
            if !(rule == Rule::Shared && uid == 0) {
                check(&dir, &up, uid, false)?;
            }
            dir = Dir { fd, path: up, uid };
            continue;
        }
        let here = dir.path.join(&name);
        let last = todo.is_empty();
        if last && rule == Rule::Shared {
            return Ok(Place {
                dir,
                name,
                path: here,
            });
        }
        let st = match fstatat(
            dir.fd.as_fd(),
            name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => st,
            Err(Errno::ENOENT) if last => {
                return Ok(Place {
                    dir,
                    name,
                    path: here,
                });
            }
            Err(e) => return Err(os(&here, e)),
        };
        let is_link = kind(&st) == SFlag::S_IFLNK;
        if rule == Rule::Shared && is_link && dir.uid != 0 {
            return Err(SafePathError::Unsafe {
                from: dir.path.clone(),
                from_uid: dir.uid,
                to: here,
                to_uid: None,
                via_link: true,
            });
        }
        if !(rule == Rule::Shared && st.st_uid == 0) {
            check(&dir, &here, st.st_uid, false)?;
        }
        match kind(&st) {
            SFlag::S_IFLNK => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(SafePathError::Loop { path: here });
                }
                let target =
                    readlinkat(dir.fd.as_fd(), name.as_os_str()).map_err(|e| os(&here, e))?;
                let target = PathBuf::from(target);
                let mut more = components(&target);
                more.reverse();
                todo.extend(more);
                if target.is_absolute() {
                    // The jump to `/`: allowed only from a directory whose
                    // owner is root or owns `/` (never).
                    let r = root()?;
                    check(&dir, Path::new("/"), r.uid, true)?;
                    dir = r;
                }
            }
            SFlag::S_IFDIR if !last => {
                let fd = open_path(&dir.fd, &name, &here)?;
                let st2 = stat_fd(&fd, &here)?;
                // The same directory we looked at (not swapped meanwhile).
                if st2.st_ino != st.st_ino || st2.st_dev != st.st_dev {
                    return Err(os(&here, Errno::EAGAIN));
                }
                dir = Dir {
                    fd,
                    path: here,
                    uid: st2.st_uid,
                };
            }
            _ if last => {
                return Ok(Place {
                    dir,
                    name,
                    path: here,
                });
            }
            _ => return Err(SafePathError::NotDirectory { path: here }),
        }
    }
    // The path named `/` itself (or ended in a `..`).
    Err(SafePathError::NotDirectory {
        path: absolute.clone(),
    })
}

fn libc_einval() -> i32 {
    Errno::EINVAL as i32
}

fn components(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

impl Dir {
    /// `/proc/self/fd/N/NAME`: for the few calls that take a path only.
    pub(crate) fn proc_path(&self, name: &OsStr) -> PathBuf {
        let mut p = PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        p.push(Path::new(name));
        p
    }

    /// What `name` in this directory is (a link is not followed); `None`
    /// when nothing is there.
    pub(crate) fn kind_of(
        &self,
        name: &OsStr,
    ) -> nix::Result<Option<crate::files::regular::FileKind>> {
        match fstatat(self.fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(crate::files::regular::FileKind::from_mode(st.st_mode))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the directory itself for reading (fsync, listing).
    pub(crate) fn open_dir(&self) -> std::io::Result<std::fs::File> {
        let fd = openat(
            self.fd.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(std::fs::File::from(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn an_entry_is_placed_without_following_its_last_link() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("real"), "x").unwrap();
        symlink(d.path().join("real"), d.path().join("link")).unwrap();
        symlink("sub", d.path().join("dirlink")).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let p = place_entry(&d.path().join("link")).unwrap();
        assert_eq!(p.name, "link");
        // Links before the last component are still followed by the rule.
        let p = place_entry(&d.path().join("dirlink/f.prom")).unwrap();
        assert_eq!(
            (p.name.to_str(), p.dir.path.ends_with("sub")),
            (Some("f.prom"), true)
        );
        assert!(matches!(
            place_entry(&d.path().join("missing/f.prom")),
            Err(SafePathError::Missing { .. })
        ));
    }

    /// Debian's layout: /var/lib/prometheus is `prometheus`'s, the textfile
    /// directory in it root's. The step into root's directory is allowed;
    /// a link in the other user's directory is never followed, whoever
    /// owns it (tests run as root).
    #[test]
    fn an_entry_may_be_reached_through_another_users_directory_but_no_link_there() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("prometheus");
        std::fs::create_dir_all(home.join("node-exporter")).unwrap();
        std::fs::create_dir(home.join("theirs")).unwrap();
        let nobody = 65534;
        std::os::unix::fs::chown(&home, Some(nobody), Some(nobody)).unwrap();
        std::os::unix::fs::chown(home.join("theirs"), Some(nobody), Some(nobody)).unwrap();
        let p = place_entry(&home.join("node-exporter/kesgate.prom")).unwrap();
        assert_eq!(p.name, "kesgate.prom");
        assert!(place_entry(&home.join("theirs/kesgate.prom")).is_ok());
        // The tmpfiles rule refuses the step into root's directory.
        assert!(matches!(
            place(&home.join("node-exporter/kesgate.prom")),
            Err(SafePathError::Unsafe { .. })
        ));
        symlink("/etc", home.join("link")).unwrap();
        std::os::unix::fs::lchown(home.join("link"), Some(nobody), Some(nobody)).unwrap();
        assert!(matches!(
            place_entry(&home.join("link/kesgate.prom")),
            Err(SafePathError::Unsafe { via_link: true, .. })
        ));
        symlink("/etc", home.join("rootlink")).unwrap();
        assert!(matches!(
            place_entry(&home.join("rootlink/kesgate.prom")),
            Err(SafePathError::Unsafe { via_link: true, .. })
        ));
    }

    #[test]
    fn links_in_root_directories_are_followed_and_missing_files_placed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("real"), "x").unwrap();
        symlink(d.path().join("real"), d.path().join("link")).unwrap();
        let p = place(&d.path().join("link")).unwrap();
        assert_eq!(p.name, "real");
        let p = place(&d.path().join("new")).unwrap();
        assert_eq!(p.name, "new");
        assert_eq!(
            place(&d.path().join("real/x")).unwrap_err(),
            SafePathError::NotDirectory {
                path: d.path().join("real")
            }
        );
        symlink("loop", d.path().join("loop")).unwrap();
        assert!(matches!(
            place(&d.path().join("loop")),
            Err(SafePathError::Loop { .. })
        ));
    }
}
