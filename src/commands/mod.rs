//! One file per command, each owning its `run`: it loads what it needs,
//! does its work and returns an [`Outcome`] or an error. Only `main` turns
//! either into the process's end.

pub(crate) mod assets;
pub(crate) mod buckets;
pub(crate) mod identity;
pub(crate) mod init;
pub(crate) mod keys;
pub(crate) mod preflight;
pub(crate) mod render;
pub(crate) mod start;
pub(crate) mod status;
pub(crate) mod wait;
pub(crate) mod watch;

/// How a command that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything it checks holds (exit 0).
    Done,
    /// It answered "no" without failing: `render --check` found a
    /// difference, `buckets` left a bucket without its encryption (exit 1).
    No,
    /// `status`: something it could see is broken (exit 1).
    Broken,
    /// `status`: nothing broken, but something will be (exit 2: a
    /// certificate expiring within `[watch] warn_before`).
    Warning,
    /// `status --nagios`: the monitoring-plugins state (0 OK, 1 WARNING,
    /// 2 CRITICAL, 3 UNKNOWN).
    Plugin(u8),
    /// `status`: nothing broken among what could be seen, but some parts
    /// could not be (exit 3, Nagios's UNKNOWN).
    Unseen,
}

impl Outcome {
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::No | Outcome::Broken => 1,
            Outcome::Warning => 2,
            Outcome::Plugin(code) => code,
            Outcome::Unseen => 3,
        }
    }
}
