//! The service manager's side: sd_notify, and whether stderr is the journal.

pub(crate) mod bus;
pub(crate) mod episode;
pub(crate) mod notify;

use std::os::fd::AsFd;

/// True when stderr is the stream systemd connected to the journal
/// (`JOURNAL_STREAM=dev:ino` matches fstat(2) of fd 2).
pub(crate) fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(stat.st_dev) && ino.parse::<u64>().ok() == Some(stat.st_ino)
}
