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
