//! A wrapper that keeps secret material out of logs and error messages.

use std::fmt;

/// Holds a secret; `Debug` prints a placeholder and there is no `Display`,
/// so a secret can only leave through an explicit `expose()`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret<T>(T);

impl<T> Secret<T> {
    pub(crate) fn new(value: T) -> Self {
        Secret(value)
    }

    /// The only way to the value: every call site is a place to review.
    pub(crate) fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a secret file is refused, as ssh refuses such keys.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Exposure {
    #[error(
        "{} holds a secret but is readable by group or others (mode {mode:04o})\n  fix: chmod 600 {}", path.display(), path.display()
    )]
    Mode { path: std::path::PathBuf, mode: u32 },
    #[error(
        "{} is a client key and others may read it, or more than its owner may change it (mode {mode:04o}): keys are never public\n  fix: chmod 600 {} (owned by root or MinIO's user), or chmod 640 with MinIO's group: only MinIO's user or group may read it", path.display(), path.display()
    )]
    KeyMode { path: std::path::PathBuf, mode: u32 },
    #[error(
        "{} holds a secret but belongs to uid {uid}, not to root or to kesgate's user (uid {ours}): that user could change it\n  fix: chown root: {}", path.display(), path.display()
    )]
    Owner {
        path: std::path::PathBuf,
        uid: u32,
        ours: u32,
    },
}

/// Refuses a client key (MINIO_KMS_KES_KEY_FILE) that others may read or
/// anyone but its owner may change. It is MinIO's secret as much as
/// kesgate's: MinIO's user must read it, so it may belong to that user
/// (mode 0600) or be readable by MinIO's group (root:minio-user 0640) —
/// what certificate-authenticated hosts have had since before API keys.
pub(crate) fn check_client_key(
    path: &std::path::Path,
    meta: &std::fs::Metadata,
) -> Result<(), Exposure> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o027 != 0 {
        return Err(Exposure::KeyMode {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Refuses a secret file that group or others may read or write, or that
/// belongs to neither root nor kesgate's own user (who could swap it).
pub(crate) fn check_private(
    path: &std::path::Path,
    meta: &std::fs::Metadata,
) -> Result<(), Exposure> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Exposure::Mode {
            path: path.to_owned(),
            mode,
        });
    }
    let ours = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != ours {
        return Err(Exposure::Owner {
            path: path.to_owned(),
            uid: meta.uid(),
            ours,
        });
    }
    Ok(())
}

/// Why a private secret could not be had.
#[derive(Debug)]
pub(crate) enum PrivateError {
    /// Missing, not a regular file, too large, unreadable.
    Read(crate::files::regular::ReadError),
    /// Readable by others, or another user's.
    Exposed(Exposure),
}

/// A client key: a regular file read without following a link at its
/// path (one MinIO's user could plant), capped, that others cannot read
/// ([`check_client_key`]).
pub(crate) fn read_client_key(path: &std::path::Path) -> Result<Secret<Vec<u8>>, PrivateError> {
    use crate::files::regular;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(
            (nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_NOCTTY
                | nix::fcntl::OFlag::O_NOFOLLOW)
                .bits(),
        )
        .open(path)
        .map_err(|e| {
            PrivateError::Read(match e.raw_os_error() {
                Some(nix::libc::ELOOP) => {
                    regular::ReadError::NotRegular(regular::FileKind::from_mode(nix::libc::S_IFLNK))
                }
                _ if e.kind() == std::io::ErrorKind::NotFound => regular::ReadError::Missing,
                _ => regular::ReadError::Io(e),
            })
        })?;
    let (bytes, meta) =
        regular::read_open(file, regular::MAX_SECRET).map_err(PrivateError::Read)?;
    let bytes = Secret::new(bytes);
    check_client_key(path, &meta).map_err(PrivateError::Exposed)?;
    Ok(bytes)
}

/// The one reader of private secrets (KES API key, client key, MinIO's
/// credentials): a regular file, capped, that no other user may read or
/// change.
pub(crate) fn read_private(path: &std::path::Path) -> Result<Secret<Vec<u8>>, PrivateError> {
    use crate::files::regular;
    let (bytes, meta) =
        regular::read_with_metadata(path, regular::MAX_SECRET).map_err(PrivateError::Read)?;
    let bytes = Secret::new(bytes);
    check_private(path, &meta).map_err(PrivateError::Exposed)?;
    Ok(bytes)
}
