//! A wrapper that keeps secret material out of logs and error messages.

use std::fmt;

/// Holds a secret; `Debug` prints a placeholder and there is no `Display`,
/// so a secret can only leave through an explicit `expose()`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The only way to the value: every call site is a place to review.
    pub fn expose(&self) -> &T {
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
pub enum Exposure {
    #[error(
        "{} holds a secret but is readable by group or others (mode {mode:04o})\n  fix: chmod 600 {}", path.display(), path.display()
    )]
    Mode { path: std::path::PathBuf, mode: u32 },
    #[error(
        "{} holds a secret but belongs to uid {uid}, not to root or to kesgate's user (uid {ours}): that user could change it\n  fix: chown root: {}", path.display(), path.display()
    )]
    Owner {
        path: std::path::PathBuf,
        uid: u32,
        ours: u32,
    },
}

/// Refuses a secret file that group or others may read or write, or that
/// belongs to neither root nor kesgate's own user (who could swap it).
pub fn check_private(path: &std::path::Path, meta: &std::fs::Metadata) -> Result<(), Exposure> {
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
pub enum PrivateError {
    /// Missing, not a regular file, too large, unreadable.
    Read(crate::files::regular::ReadError),
    /// Readable by others, or another user's.
    Exposed(Exposure),
}

/// The one reader of private secrets (KES API key, client key, MinIO's
/// credentials): a regular file, capped, that no other user may read or
/// change.
pub fn read_private(path: &std::path::Path) -> Result<Secret<Vec<u8>>, PrivateError> {
    use crate::files::regular;
    let (bytes, meta) =
        regular::read_with_metadata(path, regular::MAX_SECRET).map_err(PrivateError::Read)?;
    let bytes = Secret::new(bytes);
    check_private(path, &meta).map_err(PrivateError::Exposed)?;
    Ok(bytes)
}

/// The one credential rule, for KES and MinIO alike: a systemd credential
/// `name` (`LoadCredential=` of kesgate's unit: crate::inherited) is the unit's
/// deliberate choice and wins over the configuration. A dangling link is a
/// credential that is wrong, not one that is absent.
pub fn credential(name: &str) -> Option<std::path::PathBuf> {
    crate::inherited::credentials_dir()
        .map(|dir| dir.join(name))
        .filter(|p| p.symlink_metadata().is_ok())
}
