//! The one place where a failure becomes an exit code (sysexits.h), so that
//! units can say `RestartPreventExitStatus=` for what waiting cannot fix.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::config::init::InitError;
use crate::logging::ids;
use crate::net::tls::TlsSetupError;
use crate::stages::buckets::BucketsError;
use crate::stages::keys::KeyError;
use crate::stages::render::RenderError;
use crate::stages::wait::WaitError;

pub const EX_USAGE: u8 = 64;
pub const EX_UNAVAILABLE: u8 = 69;
pub const EX_SOFTWARE: u8 = 70;
pub const EX_CANTCREAT: u8 = 73;
pub const EX_PROTOCOL: u8 = 76;
pub const EX_NOPERM: u8 = 77;
pub const EX_CONFIG: u8 = 78;

/// `kesgate identity`: input that is not a key or a certificate.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read {what}: {source}")]
    Read {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "{what} is not a KES API key: {reason}\n  fix: pass a `kes:v1:…` key or a PEM certificate"
    )]
    ApiKey {
        what: String,
        reason: crate::kes::apikey::ApiKeyError,
    },
    #[error("{what}: not a usable certificate: {reason}")]
    Certificate { what: String, reason: String },
    #[error("{0}")]
    Usage(String),
}

/// `kesgate watch`: a file it needs could not be had; nothing was told.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "kesgate watch cannot keep its memory in {}: {source}\n  fix: make that directory root's and writable (kesgate-watch.service has StateDirectory=kesgate; a read-only or full file system must be fixed)",
        path.display()
    )]
    Memory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot take kesgate watch's lock in {}: {source}\n  fix: make that directory root's alone (kesgate-watch.service has RuntimeDirectory=kesgate)",
        path.display()
    )]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot remove the metrics file {}: {source}\n  fix: remove it by hand; node_exporter would serve its stale values",
        path.display()
    )]
    Withdraw {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("kesgate watch's file work did not finish: {0}")]
    Task(std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(transparent)]
    /// Boxed: the largest error by far, and every Result carries it.
    Wait(Box<WaitError>),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    /// Boxed, as Wait is.
    Key(Box<KeyError>),
    #[error(transparent)]
    Buckets(#[from] BucketsError),
    #[error(transparent)]
    Init(#[from] InitError),
    #[error("cannot write the packaging assets: {0}")]
    Assets(std::io::Error),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error(transparent)]
    View(#[from] crate::stages::minio_view::ViewError),
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

/// What an error is, for everything outside the message: the exit code
/// (sysexits.h; the units' `RestartPreventExitStatus=` list the permanent
/// ones), the journal's MESSAGE_ID and KESGATE_ERROR_KIND, and the KES
/// endpoint concerned (KESGATE_ENDPOINT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub code: u8,
    pub message_id: &'static str,
    pub kind: &'static str,
    pub endpoint: Option<String>,
}

impl Error {
    /// The one classification: every caller asks it, none decides itself.
    pub fn class(&self) -> Class {
        let (code, message_id, kind) = self.code_id_kind();
        Class {
            code,
            message_id,
            kind,
            endpoint: self.endpoint(),
        }
    }

    fn code_id_kind(&self) -> (u8, &'static str, &'static str) {
        use ids::{FAILED, IDENTITY_REJECTED, TLS_UNTRUSTED, WAIT_GAVE_UP};
        match self {
            Error::Config(ConfigError::Exposed(_)) => (EX_NOPERM, FAILED, "secret_exposed"),
            Error::Config(ConfigError::Read { problem, .. }) if problem.is_out_of_descriptors() => {
                (EX_UNAVAILABLE, FAILED, "config")
            }
            Error::Config(_) => (EX_CONFIG, FAILED, "config"),
            Error::Tls(_) => (EX_CONFIG, FAILED, "tls_setup"),
            Error::Wait(w) => match **w {
                WaitError::TimedOut { .. } => (EX_UNAVAILABLE, WAIT_GAVE_UP, "timeout"),
                WaitError::Forbidden { .. } => (EX_NOPERM, IDENTITY_REJECTED, "forbidden"),
                WaitError::ClientCertRejected { .. } => {
                    (EX_NOPERM, IDENTITY_REJECTED, "client_cert_rejected")
                }
                WaitError::Untrusted { .. } => (EX_PROTOCOL, TLS_UNTRUSTED, "tls_untrusted"),
                WaitError::Protocol { .. } => (EX_PROTOCOL, FAILED, "protocol"),
            },
            Error::Identity(IdentityError::Usage(_)) => (EX_USAGE, FAILED, "identity"),
            Error::Identity(_) => (EX_CONFIG, FAILED, "identity"),
            Error::Render(r) => render_class(r),
            Error::Key(k) => match **k {
                KeyError::Forbidden { .. } => (EX_NOPERM, IDENTITY_REJECTED, "forbidden"),
                KeyError::Rejected { .. }
                | KeyError::MethodMismatch { .. }
                | KeyError::Transport { .. } => (EX_PROTOCOL, FAILED, "key"),
                KeyError::Unavailable { .. } => (EX_UNAVAILABLE, FAILED, "key"),
                KeyError::NotFound { .. } => (EX_CONFIG, FAILED, "key"),
            },
            Error::Buckets(BucketsError::Credentials(
                crate::stages::buckets::CredentialsError::Exposed(_),
            )) => (EX_NOPERM, FAILED, "minio_credentials"),
            Error::Buckets(BucketsError::Credentials(_) | BucketsError::Tls(_)) => {
                (EX_CONFIG, FAILED, "minio_credentials")
            }
            Error::Buckets(BucketsError::NotHealthy { .. }) => {
                (EX_UNAVAILABLE, FAILED, "minio_not_healthy")
            }
            Error::Init(InitError::Write { source, .. } | InitError::WrotePart { source, .. })
                if refused(source) =>
            {
                (EX_NOPERM, FAILED, "init")
            }
            Error::Init(InitError::Write { .. } | InitError::WrotePart { .. }) => {
                (EX_CANTCREAT, FAILED, "init")
            }
            Error::Init(InitError::Usage(_)) => (EX_USAGE, FAILED, "init"),
            Error::Init(_) => (EX_CONFIG, FAILED, "init"),
            Error::Assets(_) => (EX_CANTCREAT, FAILED, "assets"),
            // Its memory, lock or metrics file cannot be had, whatever the
            // cause (full, read-only, another user's directory): 73, as
            // README and `kesgate watch --help` say.
            Error::Watch(_) => (EX_CANTCREAT, FAILED, "watch"),
            Error::View(v) if v.is_permission() => (EX_NOPERM, FAILED, "minio_view"),
            Error::View(_) => (EX_CONFIG, FAILED, "minio_view"),
        }
    }

    /// The KES endpoint concerned, if any (KESGATE_ENDPOINT).
    fn endpoint(&self) -> Option<String> {
        match self {
            Error::Wait(w) => w.endpoint().map(ToString::to_string),
            Error::Key(k) => Some(k.endpoint().to_string()),
            _ => None,
        }
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Error {
        Error::Key(Box::new(e))
    }
}

impl From<WaitError> for Error {
    fn from(e: WaitError) -> Error {
        Error::Wait(Box::new(e))
    }
}

fn render_class(e: &RenderError) -> (u8, &'static str, &'static str) {
    let kind = match e {
        RenderError::OtherKms { .. } => "other_kms",
        RenderError::Unsafe { .. } => "unsafe_path",
        RenderError::NoSafeOrder { .. } => "no_safe_order",
        _ => "env_file",
    };
    let code = match e {
        RenderError::Unreadable { .. }
        | RenderError::OtherKms { .. }
        | RenderError::Unwritable { .. }
        | RenderError::Shape { .. }
        | RenderError::Unsafe { .. }
        | RenderError::MinioCannotRead { .. }
        | RenderError::NoSafeOrder { .. }
        | RenderError::NoPreflight { .. } => EX_CONFIG,
        RenderError::Read { source, .. } if refused(source) => EX_NOPERM,
        RenderError::Read { source, .. } if wrong_shape(source) => EX_CONFIG,
        // A file system that is read-only, full or failing may heal.
        RenderError::Read { .. } | RenderError::Locked { .. } => EX_CANTCREAT,
        // What a shape check missed in a race: still not for retrying.
        RenderError::Write { source, .. } if wrong_shape(source) => EX_CONFIG,
        // An owner or extended attribute this process may not set.
        RenderError::Write { source, .. } if refused(source) => EX_NOPERM,
        RenderError::Write { .. } => EX_CANTCREAT,
        RenderError::Invariant { .. } => EX_SOFTWARE,
    };
    (code, ids::FAILED, kind)
}
