//! The one place where a failure becomes an exit code (sysexits.h), so that
//! units can say `RestartPreventExitStatus=` for what waiting cannot fix.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::config::draft::InitError;
use crate::logging::ids;
use crate::net::tls::TlsSetupError;
use crate::stages::buckets::BucketsError;
use crate::stages::keys::KeyError;
use crate::stages::render::RenderError;
use crate::stages::wait::WaitError;

pub(crate) const EX_USAGE: u8 = 64;
pub(crate) const EX_UNAVAILABLE: u8 = 69;
pub(crate) const EX_SOFTWARE: u8 = 70;
pub(crate) const EX_CANTCREAT: u8 = 73;
pub(crate) const EX_PROTOCOL: u8 = 76;
pub(crate) const EX_NOPERM: u8 = 77;
pub(crate) const EX_CONFIG: u8 = 78;

/// What a unit does with an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnExit {
    /// Success, or an answer that is not a failure (`render --check`,
    /// `status`): nothing to retry.
    Answer,
    /// Waiting can fix it: the units retry.
    Retry,
    /// Waiting cannot fix it: the units name it in `RestartPreventExitStatus=`.
    Stop,
}

/// One exit code: the number, its sysexits name, what it means.
pub(crate) struct ExitCode {
    pub code: u8,
    pub name: &'static str,
    pub meaning: &'static str,
    pub on_exit: OnExit,
}

/// Every exit code kesgate uses: the one table `--help` and the man page
/// print, and that docs/commands.md's table and the units' `RestartPreventExitStatus=`
/// are tested against. `status` reads 1 broken, 2 a warning (the order of
/// severity scripts test with `-ge`); `status --nagios` uses the
/// monitoring-plugins order instead (1 WARNING, 2 CRITICAL), because
/// Nagios-compatible systems read exactly that.
pub(crate) const EXIT_CODES: [ExitCode; 11] = [
    ExitCode {
        code: 0,
        name: "",
        meaning: "success (status: healthy; --nagios: OK)",
        on_exit: OnExit::Answer,
    },
    ExitCode {
        code: 1,
        name: "",
        meaning: "a check answered no: render --check (differs or MinIO would refuse it), buckets (a bucket is not as configured), status (something is broken; --nagios: WARNING)",
        on_exit: OnExit::Answer,
    },
    ExitCode {
        code: 2,
        name: "",
        meaning: "status: a warning, nothing broken (a certificate expiring within [watch] warn_before); --nagios: CRITICAL",
        on_exit: OnExit::Answer,
    },
    ExitCode {
        code: 3,
        name: "",
        meaning: "status: nothing broken in what it could see, but some parts could not be seen (not root, no system bus); --nagios: UNKNOWN",
        on_exit: OnExit::Answer,
    },
    ExitCode {
        code: EX_USAGE,
        name: "EX_USAGE",
        meaning: "usage: an unknown command, option or value",
        on_exit: OnExit::Stop,
    },
    ExitCode {
        code: EX_UNAVAILABLE,
        name: "EX_UNAVAILABLE",
        meaning: "KES or MinIO not ready within [wait] timeout, a key operation failing for [kes] key_retry_window, or out of file descriptors",
        on_exit: OnExit::Retry,
    },
    ExitCode {
        code: EX_SOFTWARE,
        name: "EX_SOFTWARE",
        meaning: "internal error: a rendered file would break MinIO's rules (nothing written)",
        on_exit: OnExit::Stop,
    },
    ExitCode {
        code: EX_CANTCREAT,
        name: "EX_CANTCREAT",
        meaning: "a file cannot be read or written (I/O, read-only, full, the write lock held for 10 s); the message says which configuration MinIO sees",
        on_exit: OnExit::Retry,
    },
    ExitCode {
        code: EX_PROTOCOL,
        name: "EX_PROTOCOL",
        meaning: "the peer is not KES as MinIO needs it: TLS trust or handshake, not HTTP, a redirect, a 405, a bad data key",
        on_exit: OnExit::Stop,
    },
    ExitCode {
        code: EX_NOPERM,
        name: "EX_NOPERM",
        meaning: "permission: the KES policy refuses the identity, a secret file readable by others or owned by another user, a file kesgate may not write",
        on_exit: OnExit::Stop,
    },
    ExitCode {
        code: EX_CONFIG,
        name: "EX_CONFIG",
        meaning: "configuration: kesgate.toml, TLS material, or a file MinIO cannot use (the message names the file, line and fix)",
        on_exit: OnExit::Stop,
    },
];

impl ExitCode {
    /// "64 (EX_USAGE, not retried)": the code, its name and what the units
    /// do with it, as `--help` and the man page print it.
    pub(crate) fn label(&self) -> String {
        let units = match self.on_exit {
            OnExit::Answer => "",
            OnExit::Retry => ", retried by the units",
            OnExit::Stop => ", not retried",
        };
        if self.name.is_empty() {
            self.code.to_string()
        } else {
            format!("{} ({}{units})", self.code, self.name)
        }
    }
}

/// The EXIT STATUS text of `--help` and the man page, from [`EXIT_CODES`].
pub(crate) fn exit_status_help() -> String {
    let mut s = String::from("Exit status:\n");
    for e in &EXIT_CODES {
        s.push_str(&format!("  {}: {}\n", e.label(), e.meaning));
    }
    s.push_str("  Killed by SIGTERM or SIGINT: stopped by that signal, in any state.");
    s
}

/// `kesgate identity`: input that is not a key or a certificate.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IdentityError {
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
        reason: crate::kes_types::apikey::ApiKeyError,
    },
    #[error("{what}: not a usable certificate: {reason}")]
    Certificate { what: String, reason: String },
    #[error("cannot write {}: {source}\n  fix: name a new file in a directory root owns", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}

/// `kesgate watch`: a file it needs could not be had; nothing was told.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WatchError {
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
pub(crate) enum Error {
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
pub(crate) struct Class {
    pub code: u8,
    pub message_id: &'static str,
    pub kind: &'static str,
    pub endpoint: Option<String>,
}

impl Error {
    /// The one classification: every caller asks it, none decides itself.
    pub(crate) fn class(&self) -> Class {
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
            Error::Identity(IdentityError::Write { .. }) => (EX_CANTCREAT, FAILED, "identity"),
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
            // docs/commands.md and `kesgate --help` say.
            Error::Watch(_) => (EX_CANTCREAT, FAILED, "watch"),
            Error::View(v) if v.is_permission() => (EX_NOPERM, FAILED, "minio_view"),
            Error::View(_) => (EX_CONFIG, FAILED, "minio_view"),
        }
    }

    /// The unit's STATUS= line once the command has failed: the cause
    /// first, and for a timed-out wait what the Vault said with it.
    pub(crate) fn status_line(&self) -> String {
        match self {
            Error::Wait(w) => w
                .status_line()
                .unwrap_or_else(|| crate::text::headline(self)),
            _ => crate::text::headline(self),
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

#[cfg(test)]
mod tests {
    use super::{EXIT_CODES, OnExit};
    use std::collections::BTreeSet;

    fn table() -> BTreeSet<u8> {
        EXIT_CODES.iter().map(|e| e.code).collect()
    }

    /// Every sysexits code this file defines, and every code a command's
    /// outcome ends with, is in the one table.
    #[test]
    fn every_code_kesgate_exits_with_is_in_the_table() {
        let defined: BTreeSet<u8> = include_str!("error.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("pub(crate) const EX_"))
            .filter_map(|l| l.split_once(": u8 = "))
            .map(|(_, v)| v.trim_end_matches(';').parse().unwrap())
            .collect();
        assert_eq!(defined.len(), 7);
        use crate::commands::Outcome;
        let outcomes = [
            Outcome::Done,
            Outcome::No,
            Outcome::Broken,
            Outcome::Warning,
            Outcome::Unseen,
            Outcome::Plugin(0),
            Outcome::Plugin(1),
            Outcome::Plugin(2),
            Outcome::Plugin(3),
        ]
        .map(Outcome::exit_code);
        for code in defined.iter().chain(&outcomes) {
            assert!(
                table().contains(code),
                "exit code {code} is not in EXIT_CODES"
            );
        }
        assert_eq!(table().len(), EXIT_CODES.len(), "a code listed twice");
    }

    /// docs/commands.md's table lists exactly the codes of the table.
    #[test]
    fn the_documented_exit_code_table_is_the_table() {
        let doc = include_str!("../docs/commands.md");
        let section = doc
            .split("## Exit codes")
            .nth(1)
            .expect("docs/commands.md has an exit codes section");
        let listed: BTreeSet<u8> = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.trim_start_matches('|').split_whitespace().next())
            .filter_map(|c| c.parse().ok())
            .collect();
        assert_eq!(
            listed,
            table(),
            "docs/commands.md's exit codes differ from EXIT_CODES"
        );
    }

    /// A unit that retries stops retrying exactly on the codes waiting
    /// cannot fix (and buckets also on its answer "no", 1).
    #[test]
    fn the_units_stop_retrying_on_the_codes_marked_so() {
        let stop: BTreeSet<u8> = EXIT_CODES
            .iter()
            .filter(|e| e.on_exit == OnExit::Stop)
            .map(|e| e.code)
            .collect();
        let units = [
            (
                "kesgate.service",
                include_str!("../units/kesgate.service"),
                &[][..],
            ),
            (
                "kesgate-keys.service",
                include_str!("../units/kesgate-keys.service"),
                &[],
            ),
            (
                "kesgate-buckets.service",
                include_str!("../units/kesgate-buckets.service"),
                &[1],
            ),
        ];
        for (name, text, answers) in units {
            let listed: BTreeSet<u8> = crate::unit_file::service_assignments(text)
                .into_iter()
                .filter(|(k, _)| k == "RestartPreventExitStatus")
                .flat_map(|(_, v)| {
                    v.split_whitespace()
                        .map(|c| c.parse::<u8>().unwrap())
                        .collect::<Vec<_>>()
                })
                .collect();
            let want: BTreeSet<u8> = stop.iter().chain(answers).copied().collect();
            assert_eq!(listed, want, "{name}: RestartPreventExitStatus=");
        }
    }

    /// `--help` (and so the man page) prints every code with its meaning.
    #[test]
    fn help_prints_every_code() {
        let help = super::exit_status_help();
        for e in &EXIT_CODES {
            assert!(
                help.contains(&format!("\n  {}", e.code)) && help.contains(e.meaning),
                "--help lacks exit code {}",
                e.code
            );
        }
    }
}
