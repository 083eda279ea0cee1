//! The one place where a failure becomes an exit code (sysexits.h), so that
//! units can say `RestartPreventExitStatus=` for what waiting cannot fix.

use crate::buckets::BucketsError;
use crate::config::ConfigError;
use crate::identity::IdentityError;
use crate::keys::KeyError;
use crate::logging::ids;
use crate::render::RenderError;
use crate::tls::TlsSetupError;
use crate::wait::WaitError;

/// An error's first line: what went wrong, without the `fix:` and the
/// detail lines kesgate's messages carry below it (for STATUS= and lists).
pub fn headline(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

/// The first line and the fix of an error, on one line: what `status`
/// shows for a link, in the words the failing command prints.
pub fn headline_and_fix(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default().to_owned();
    match lines.find_map(|l| l.trim_start().strip_prefix("fix: ")) {
        Some(fix) => format!("{first}; fix: {fix}"),
        None => first,
    }
}

/// The fix wherever kesgate runs out of file descriptors (EMFILE/ENFILE).
pub const FIX_DESCRIPTORS: &str = "raise kesgate's open-file limit (LimitNOFILE= in a drop-in), or find what holds this host's file descriptors";

pub const EX_USAGE: u8 = 64;
pub const EX_UNAVAILABLE: u8 = 69;
pub const EX_SOFTWARE: u8 = 70;
pub const EX_CANTCREAT: u8 = 73;
pub const EX_PROTOCOL: u8 = 76;
pub const EX_NOPERM: u8 = 77;
pub const EX_CONFIG: u8 = 78;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(transparent)]
    Wait(#[from] WaitError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Buckets(#[from] BucketsError),
    #[error("cannot write the packaging assets: {0}")]
    Assets(std::io::Error),
}

/// An I/O error that says a path has the wrong shape (no such directory,
/// a directory in the way, a mount point rename cannot replace, a name too
/// long), which no retry heals.
fn wrong_shape(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{IsADirectory, NotADirectory, NotFound};
    matches!(e.kind(), NotFound | NotADirectory | IsADirectory)
        || matches!(
            e.raw_os_error(),
            Some(nix::libc::EBUSY | nix::libc::ENAMETOOLONG | nix::libc::ELOOP)
        )
}

/// A refusal by permissions (EACCES/EPERM).
fn refused(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::PermissionDenied
        || matches!(e.raw_os_error(), Some(nix::libc::EPERM | nix::libc::EACCES))
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(ConfigError::Exposed(_)) => EX_NOPERM,
            Error::Config(ConfigError::Read { problem, .. }) if problem.is_out_of_descriptors() => {
                EX_UNAVAILABLE
            }
            Error::Config(_) | Error::Tls(_) => EX_CONFIG,
            Error::Wait(WaitError::TimedOut { .. }) => EX_UNAVAILABLE,
            Error::Wait(WaitError::Forbidden { .. } | WaitError::ClientCertRejected { .. }) => {
                EX_NOPERM
            }
            Error::Wait(WaitError::Untrusted { .. } | WaitError::Protocol { .. }) => EX_PROTOCOL,
            Error::Identity(IdentityError::Usage(_)) => EX_USAGE,
            Error::Identity(_) => EX_CONFIG,
            Error::Render(
                RenderError::Unreadable { .. }
                | RenderError::OtherKms { .. }
                | RenderError::Unwritable { .. }
                | RenderError::Shape { .. }
                | RenderError::Unsafe { .. }
                | RenderError::MinioCannotRead { .. }
                | RenderError::NoSafeOrder { .. }
                | RenderError::NoPreflight { .. },
            ) => EX_CONFIG,
            Error::Render(RenderError::Read { source, .. }) if refused(source) => EX_NOPERM,
            Error::Render(RenderError::Read { source, .. }) if wrong_shape(source) => EX_CONFIG,
            // A file system that is read-only, full or failing may heal.
            Error::Render(RenderError::Read { .. } | RenderError::Locked { .. }) => EX_CANTCREAT,
            // What a shape check missed in a race: still not for retrying.
            Error::Render(RenderError::Write { source, .. }) if wrong_shape(source) => EX_CONFIG,
            // An owner or extended attribute this process may not set.
            Error::Render(RenderError::Write { source, .. }) if refused(source) => EX_NOPERM,
            Error::Render(RenderError::Write { .. }) => EX_CANTCREAT,
            Error::Render(RenderError::Invariant { .. }) => EX_SOFTWARE,
            Error::Key(KeyError::Forbidden { .. }) => EX_NOPERM,
            Error::Key(
                KeyError::Rejected { .. }
                | KeyError::MethodMismatch { .. }
                | KeyError::Transport { .. },
            ) => EX_PROTOCOL,
            Error::Key(KeyError::Unavailable { .. }) => EX_UNAVAILABLE,
            Error::Key(KeyError::NotFound { .. }) => EX_CONFIG,
            Error::Buckets(BucketsError::Credentials(
                crate::buckets::CredentialsError::Exposed(_),
            )) => EX_NOPERM,
            Error::Buckets(BucketsError::Credentials(_) | BucketsError::Tls(_)) => EX_CONFIG,
            Error::Buckets(BucketsError::NotHealthy { .. }) => EX_UNAVAILABLE,
            Error::Assets(_) => EX_CANTCREAT,
        }
    }

    /// The KES endpoint concerned, if any (KESGATE_ENDPOINT).
    pub fn endpoint(&self) -> Option<String> {
        match self {
            Error::Wait(w) => w.endpoint().map(ToString::to_string),
            _ => None,
        }
    }

    /// MESSAGE_ID and KESGATE_ERROR_KIND for the journal.
    pub fn journal_tags(&self) -> (&'static str, &'static str) {
        match self {
            Error::Config(ConfigError::Exposed(_)) => (ids::FAILED, "secret_exposed"),
            Error::Config(_) => (ids::FAILED, "config"),
            Error::Tls(_) => (ids::FAILED, "tls_setup"),
            Error::Wait(WaitError::TimedOut { .. }) => (ids::WAIT_GAVE_UP, "timeout"),
            Error::Wait(WaitError::Forbidden { .. }) => (ids::IDENTITY_REJECTED, "forbidden"),
            Error::Wait(WaitError::Untrusted { .. }) => (ids::TLS_UNTRUSTED, "tls_untrusted"),
            Error::Wait(WaitError::ClientCertRejected { .. }) => {
                (ids::IDENTITY_REJECTED, "client_cert_rejected")
            }
            Error::Wait(WaitError::Protocol { .. }) => (ids::FAILED, "protocol"),
            Error::Identity(_) => (ids::FAILED, "identity"),
            Error::Render(RenderError::OtherKms { .. }) => (ids::FAILED, "other_kms"),
            Error::Render(RenderError::Unsafe { .. }) => (ids::FAILED, "unsafe_path"),
            Error::Render(RenderError::NoSafeOrder { .. }) => (ids::FAILED, "no_safe_order"),
            Error::Render(_) => (ids::FAILED, "env_file"),
            Error::Key(KeyError::Forbidden { .. }) => (ids::IDENTITY_REJECTED, "forbidden"),
            Error::Key(_) => (ids::FAILED, "key"),
            Error::Buckets(BucketsError::NotHealthy { .. }) => (ids::FAILED, "minio_not_healthy"),
            Error::Buckets(_) => (ids::FAILED, "minio_credentials"),
            Error::Assets(_) => (ids::FAILED, "assets"),
        }
    }
}
