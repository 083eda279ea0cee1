//! The one way kesgate reads a file an operator (or a mistake) put there:
//! only a regular file, never blocking, never more than a cap. A FIFO would
//! block the runtime's only thread (and with it SIGTERM); a device may have
//! side effects on open; `/dev/zero` never ends. So the path is looked at
//! before it is opened (devices and FIFOs are never opened), opened with
//! `O_NONBLOCK` (a FIFO swapped in meanwhile does not block) and checked
//! again on the open descriptor. Symbolic links are followed: a link to a
//! regular file is that file.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What is at a path, in an operator's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Regular,
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Symlink,
    Other,
}

impl FileKind {
    /// From `st_mode` (as fstatat gives it).
    pub(crate) fn from_mode(mode: u32) -> FileKind {
        match mode & nix::libc::S_IFMT {
            nix::libc::S_IFREG => FileKind::Regular,
            nix::libc::S_IFDIR => FileKind::Directory,
            nix::libc::S_IFIFO => FileKind::Fifo,
            nix::libc::S_IFSOCK => FileKind::Socket,
            nix::libc::S_IFCHR => FileKind::CharDevice,
            nix::libc::S_IFBLK => FileKind::BlockDevice,
            nix::libc::S_IFLNK => FileKind::Symlink,
            _ => FileKind::Other,
        }
    }

    pub(crate) fn of(meta: &Metadata) -> FileKind {
        let t = meta.file_type();
        if t.is_file() {
            FileKind::Regular
        } else if t.is_dir() {
            FileKind::Directory
        } else if t.is_fifo() {
            FileKind::Fifo
        } else if t.is_socket() {
            FileKind::Socket
        } else if t.is_char_device() {
            FileKind::CharDevice
        } else if t.is_block_device() {
            FileKind::BlockDevice
        } else if t.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Symlink => "a symbolic link",
            FileKind::Other => "not a regular file",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("does not exist")]
    Missing,
    #[error("is a symbolic link to {}, which does not exist", .0.display())]
    Dangling(PathBuf),
    #[error("is {0}, not a regular file")]
    NotRegular(FileKind),
    #[error("is larger than {0} bytes, more than such a file can be")]
    TooLarge(u64),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl ReadError {
    /// Whether the shape of the path is wrong (a configuration error that
    /// waiting cannot heal), not a passing I/O failure.
    pub(crate) fn is_wrong_shape(&self) -> bool {
        matches!(
            self,
            ReadError::Dangling(_) | ReadError::NotRegular(_) | ReadError::TooLarge(_)
        )
    }

    /// EMFILE/ENFILE: this process (or the host) is out of descriptors,
    /// which passes; the file itself is fine.
    pub(crate) fn is_out_of_descriptors(&self) -> bool {
        matches!(self, ReadError::Io(e) if out_of_descriptors(e))
    }

    pub(crate) fn is_missing(&self) -> bool {
        matches!(self, ReadError::Missing)
    }

    /// The same, as an io::Error (for callers whose errors carry one).
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            ReadError::Io(e) => e,
            ReadError::Missing => io::Error::new(io::ErrorKind::NotFound, "does not exist"),
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// EMFILE/ENFILE: the process (or the host) has no file descriptor left.
pub(crate) fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EMFILE | nix::libc::ENFILE)
    )
}

/// Caps, by what a file holds: far above any real one, far below memory.
pub(crate) const MAX_SECRET: u64 = 64 * 1024;
pub(crate) const MAX_CONFIG: u64 = 1024 * 1024;
pub(crate) const MAX_ENV_FILE: u64 = 4 * 1024 * 1024;

/// What is at `path` (links followed), refusing anything but a regular file.
pub(crate) fn regular_metadata(path: &Path) -> Result<Metadata, ReadError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(m),
        Ok(m) => Err(ReadError::NotRegular(FileKind::of(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing_or_dangling(path)),
        Err(e) => Err(ReadError::Io(e)),
    }
}

fn missing_or_dangling(path: &Path) -> ReadError {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            ReadError::Dangling(std::fs::read_link(path).unwrap_or_default())
        }
        _ => ReadError::Missing,
    }
}

/// The bytes of the regular file at `path`, at most `cap` of them.
pub(crate) fn read(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    read_with_metadata(path, cap).map(|(bytes, _)| bytes)
}

/// The bytes and the metadata of the open file (one look, no race).
pub(crate) fn read_with_metadata(path: &Path, cap: u64) -> Result<(Vec<u8>, Metadata), ReadError> {
    regular_metadata(path)?;
    let file = File::options()
        .read(true)
        .custom_flags((nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_NOCTTY).bits())
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => missing_or_dangling(path),
            _ => ReadError::Io(e),
        })?;
    read_open(file, cap)
}

/// The bytes of an open file, checked again on the descriptor: a regular
/// file, at most `cap` bytes (one more is read, so one that grew meanwhile
/// is still refused).
pub(crate) fn read_open(file: File, cap: u64) -> Result<(Vec<u8>, Metadata), ReadError> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(FileKind::of(&meta)));
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge(cap));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    Ok((bytes, meta))
}

/// As [`read`], as UTF-8 text.
pub(crate) fn read_text(path: &Path, cap: u64) -> Result<String, ReadError> {
    String::from_utf8(read(path, cap)?).map_err(|_| {
        ReadError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "is not UTF-8 text",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_each_other_kind_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("file"), "A=1\n").unwrap();
        nix::unistd::mkfifo(&p("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::create_dir(p("dir")).unwrap();
        std::os::unix::fs::symlink(p("file"), p("link")).unwrap();
        std::os::unix::fs::symlink(p("gone"), p("dangling")).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(p("sock")).unwrap();
        assert_eq!(read(&p("file"), 100).unwrap(), b"A=1\n");
        assert_eq!(read(&p("link"), 100).unwrap(), b"A=1\n");
        let kind = |n: &str| match read(&p(n), 100) {
            Err(ReadError::NotRegular(k)) => k,
            other => panic!("{n}: {other:?}"),
        };
        assert_eq!(kind("fifo"), FileKind::Fifo);
        assert_eq!(kind("dir"), FileKind::Directory);
        assert_eq!(kind("sock"), FileKind::Socket);
        assert_eq!(
            match read(Path::new("/dev/null"), 100) {
                Err(ReadError::NotRegular(k)) => k,
                other => panic!("{other:?}"),
            },
            FileKind::CharDevice
        );
        assert!(matches!(read(&p("dangling"), 100), Err(ReadError::Dangling(t)) if t == p("gone")));
        assert!(read(&p("gone"), 100).unwrap_err().is_missing());
        assert!(matches!(read(&p("file"), 3), Err(ReadError::TooLarge(3))));
        assert!(read(&p("fifo"), 1).unwrap_err().is_wrong_shape());
    }
}
