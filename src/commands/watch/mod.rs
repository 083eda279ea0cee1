//! `kesgate watch`: one round of `status`'s checks, remembered. Run once a
//! minute by kesgate-watch.timer. It changes nothing it checks (no key is
//! created, nothing rendered or started); it writes only its memory
//! (/var/lib/kesgate/watch.json) and the metrics file node_exporter serves
//! (`[watch] textfile`). The journal hears from it only when a condition
//! changes (crate::commands::watch::conditions); a quiet host, and an
//! unconfigured one, hear nothing.

mod conditions;
mod memory;
mod observe;

use std::path::{Path, PathBuf};

use tracing::instrument::WithSubscriber as _;

use super::Outcome;
use super::status;
use crate::config::{ConfigError, Settings};
use crate::error::{Error, WatchError};
use crate::files::atomic;
use crate::files::safe_path::{self, SafePathError};
use crate::host::systemd::episode::Episode;
use crate::text::headline;

use conditions::{Entry, compare};
use memory::Memory;
use observe::observe;

/// The round's lock (in the runtime directory).
const LOCK: &str = "watch";
/// The episode of skipped rounds (in the runtime directory).
const SKIPPED: &str = "watch-skipped";

/// `kesgate watch [--remove-textfile]`.
pub(crate) async fn run(config: &Path, remove_textfile: bool) -> Result<Outcome, Error> {
    let loaded = Settings::load(config);
    // The metrics file: the configured one; while the configuration does
    // not load, the one the last round wrote (node_exporter reads that).
    let configured = loaded.as_ref().ok().map(|s| s.watch.textfile.clone());
    let unconfigured =
        matches!(&loaded, Err(ConfigError::Read { problem, .. }) if problem.is_missing());
    // Being removed (the package): no metrics left behind to be served as
    // current.
    if remove_textfile {
        blocking(
            move || match configured.unwrap_or_else(|| recall().last_textfile()) {
                Some(path) => withdraw(&path),
                None => Ok(()),
            },
        )
        .await??;
        return Ok(Outcome::Done);
    }
    // Never configured (no round remembered yet): silent. A host whose
    // configuration is gone is not being checked: that round goes on —
    // told once, and its metrics say kesgate_checked 0, so an alert fires
    // rather than the series silently ending.
    if unconfigured && !blocking(|| status::since::memory_path().exists()).await? {
        return Ok(Outcome::Done);
    }
    // Another round still running (a slow KES, a hand-run watch): this one
    // is skipped rather than told twice.
    let lock = blocking(|| atomic::try_lock(LOCK))
        .await?
        .map_err(|source| WatchError::Lock {
            path: atomic::runtime_dir(),
            source,
        })?;
    let Some(lock) = lock else {
        blocking(tell_skipped).await?;
        return Ok(Outcome::Done);
    };
    blocking(tell_rounds_run_again).await?;
    // The checks' own log lines stay out of the journal: what changed is
    // told once below, never once per round.
    let report = status::look(config, &loaded)
        .with_subscriber(tracing::subscriber::NoSubscriber::default())
        .await;
    let now = crate::text::unix_now();
    let metrics = status::metrics::render(&report, now);
    let (warn, window) = match &loaded {
        Ok(s) => (s.watch.warn_before, s.kes.key_retry_window),
        Err(_) => (
            crate::config::DEFAULT_WARN_BEFORE,
            crate::config::DEFAULT_KEY_RETRY_WINDOW,
        ),
    };
    let config_state = loaded
        .as_ref()
        .map(|_| ())
        .map_err(|e| format!("{}: {}", config.display(), headline(e)));
    let observed = observe(&report, config_state, warn, now);
    let (entries, textfile_told, memory) = blocking(move || {
        let mut memory = recall();
        let entries = compare(&mut memory, &observed, window, now);
        let textfile = configured.unwrap_or_else(|| memory.last_textfile());
        let told = publish_metrics(textfile.as_deref(), &metrics, &mut memory);
        (entries, told, memory)
    })
    .await?;
    // Told, then remembered: a round killed in between tells a change
    // again rather than never.
    for e in &entries {
        tell(e);
    }
    if let Some(text) = textfile_told {
        tracing::info!(message_id = crate::logging::ids::WATCH_TEXTFILE, "{text}");
    }
    blocking(move || remember(&memory)).await??;
    drop(lock);
    Ok(Outcome::Done)
}

/// A skipped round, told once per run of them (under systemd). If the other
/// round stays stuck, no round refreshes the metrics file and the shipped
/// KesgateWatchStale alert fires.
fn tell_skipped() {
    if Episode::open(SKIPPED).changed("round", "skipped") {
        tracing::warn!(
            message_id = crate::logging::ids::WATCH_SKIPPED,
            kesgate_watch = "round",
            kesgate_state = "skipped",
            "this watch round is skipped: another `kesgate watch` still holds {}, so this \
             host's metrics are not refreshed until it ends\n  fix: if it stays, see what it \
             waits for with `systemctl status kesgate-watch.service` (or, for a watch run by \
             hand, `pgrep -a kesgate`) and stop it",
            atomic::runtime_dir().join(LOCK).display()
        );
    }
}

/// A round that holds the lock ends a run of skipped ones, and says so.
fn tell_rounds_run_again() {
    let skipped = Episode::open(SKIPPED);
    if skipped.ongoing() {
        tracing::info!(
            message_id = crate::logging::ids::WATCH_SKIPPED,
            kesgate_watch = "round",
            kesgate_state = "runs",
            "watch rounds run again: the round that held the lock has ended"
        );
        skipped.end();
    }
}

/// One journal entry per change: a problem as a warning, a recovery or a
/// fingerprint change as a notice.
fn tell(e: &Entry) {
    macro_rules! entry {
        ($level:ident) => {
            tracing::$level!(
                message_id = e.family.message_id(),
                kesgate_watch = e.family.as_str(),
                kesgate_subject = %e.subjects.join(", "),
                kesgate_state = %e.state,
                kesgate_was = %e.was.join(", "),
                "{}",
                e.text
            )
        };
    }
    if e.bad {
        entry!(warn);
    } else {
        entry!(info);
    }
}

/// Runs file work off the runtime thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WatchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WatchError::Task(std::io::Error::other(e.to_string())))
}

/// The memory of earlier rounds; a missing or unreadable one is a fresh
/// start (a baseline: only what is wrong is told).
fn recall() -> Memory {
    status::since::read_memory()
}

fn remember(memory: &Memory) -> Result<(), WatchError> {
    let path = status::since::memory_path();
    let write = || {
        atomic::own_dir(&atomic::state_dir())?;
        let place = safe_path::place(&path).map_err(std::io::Error::other)?;
        atomic::remove_stale(&place);
        let text = serde_json::to_vec_pretty(memory).map_err(std::io::Error::other)?;
        atomic::write_at(
            &place,
            &text,
            atomic::Mode::PRIVATE,
            &atomic::Attributes::default(),
        )
    };
    write().map_err(|source| WatchError::Memory { path, source })
}

/// Writes the metrics for node_exporter; what to tell about it, once per
/// problem (a missing directory: node_exporter is not installed).
fn publish_metrics(path: Option<&Path>, metrics: &str, memory: &mut Memory) -> Option<String> {
    let problem = match path {
        None => String::new(),
        Some(path) => match publish(path, metrics.as_bytes()) {
            Ok(()) => String::new(),
            Err(Published::NoDirectory(dir)) => format!(
                "{} does not exist, so kesgate writes no metrics file; it is node_exporter's textfile directory (Debian: apt install prometheus-node-exporter). Fix: install node_exporter, or set [watch] textfile to its --collector.textfile.directory (and allow it in a drop-in: ReadWritePaths= for kesgate-watch.service), or textfile = \"\"",
                dir.display()
            ),
            Err(Published::Failed(why)) => format!(
                "cannot write the metrics file {}: {why}; fix: see `man kesgate.toml`, [watch] textfile",
                path.display()
            ),
        },
    };
    memory.textfile_path = path.map(|p| p.display().to_string());
    if problem == memory.textfile {
        return None;
    }
    let told = if problem.is_empty() {
        path.map(|p| format!("{} is written again", p.display()))
    } else {
        Some(problem.clone())
    };
    memory.textfile = problem;
    told
}

enum Published {
    NoDirectory(PathBuf),
    Failed(String),
}

/// Replaces `path` in a directory other users may write (node_exporter's,
/// whose parent is the `prometheus` user's): reached by the no-follow walk,
/// a temp file created there exclusively, written, made 0644 (node_exporter
/// runs as `prometheus`) and renamed over whatever has the name — never
/// written through a link. No lock there: the round's lock is kesgate's own.
fn publish(path: &Path, content: &[u8]) -> Result<(), Published> {
    let place = safe_path::place_entry(path).map_err(|e| match e {
        SafePathError::Missing { path } => Published::NoDirectory(path),
        e => Published::Failed(e.to_string()),
    })?;
    // A round killed while writing left its temp file; the round's lock
    // says no other kesgate writer is at work.
    atomic::remove_stale(&place);
    atomic::write_at(
        &place,
        content,
        atomic::Mode {
            mode: 0o644,
            uid: None,
            gid: None,
        },
        &atomic::Attributes::default(),
    )
    .map_err(|e| Published::Failed(e.to_string()))
}

/// Removes the metrics file (a regular file only; nothing else of that
/// name is touched): stale values must not be served as current.
fn withdraw(path: &Path) -> Result<(), WatchError> {
    let remove = || -> std::io::Result<()> {
        let place = match safe_path::place_entry(path) {
            Ok(p) => p,
            Err(SafePathError::Missing { .. }) => return Ok(()),
            Err(e) => return Err(std::io::Error::other(e)),
        };
        if place.dir.kind_of(&place.name)? == Some(crate::files::regular::FileKind::Regular) {
            nix::unistd::unlinkat(
                std::os::fd::AsFd::as_fd(&place.dir.fd),
                place.name.as_os_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )?;
        }
        Ok(())
    };
    remove().map_err(|source| WatchError::Withdraw {
        path: path.to_owned(),
        source,
    })
}
