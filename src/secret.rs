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

/// The mode bits of a secret file when group or others may read or write
/// it (refused, as ssh refuses such keys); `None` when it is private.
pub fn exposed_mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

/// (owner, kesgate's uid) when a secret file belongs to neither root nor
/// kesgate's own user: that user could swap the secret (ssh's rule).
pub fn foreign_owner(meta: &std::fs::Metadata) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let ours = nix::unistd::geteuid().as_raw();
    (meta.uid() != 0 && meta.uid() != ours).then_some((meta.uid(), ours))
}
