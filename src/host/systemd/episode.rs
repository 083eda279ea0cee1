//! What this unit last told the journal about a problem that is still
//! ongoing. A unit that retries (minio.service's `Restart=always` loop around
//! `kesgate preflight`, kesgate.service's `Restart=on-failure`) starts a new
//! process per attempt; without memory each attempt would log "KES not
//! ready" and "gave up" again. The episode file in /run keeps one journal
//! entry per state change instead of one per attempt. Success ends the
//! episode (the file is removed), so the next trouble is told afresh.
//!
//! Only under systemd (INVOCATION_ID set); on a terminal every attempt is
//! one run and everything is shown.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::files::atomic::{try_lock, write_private};

pub(crate) struct Episode {
    path: Option<PathBuf>,
    /// topic → the state last announced for it
    told: RefCell<BTreeMap<String, String>>,
}

impl Episode {
    /// The episode of `name` (one per command, so the journal of each unit
    /// tells its own story). In-memory only outside systemd.
    pub(crate) fn open(name: &str) -> Episode {
        let path = std::env::var_os("INVOCATION_ID")
            .map(|_| crate::files::atomic::runtime_dir().join(format!("{name}.episode")));
        let told = path.as_deref().map(read).unwrap_or_default();
        Episode {
            path,
            told: RefCell::new(told),
        }
    }

    /// An episode that remembers nothing between processes (tests, terminal).
    #[cfg(test)]
    pub(crate) fn in_memory() -> Episode {
        Episode {
            path: None,
            told: RefCell::default(),
        }
    }

    /// True when an earlier attempt already told the journal about trouble.
    pub(crate) fn ongoing(&self) -> bool {
        !self.told.borrow().is_empty()
    }

    /// Records `state` for `topic`; true when it differs from what was last
    /// announced, i.e. when the caller should log it at its normal level.
    pub(crate) fn changed(&self, topic: &str, state: &str) -> bool {
        let mut told = self.told.borrow_mut();
        if told.get(topic).map(String::as_str) == Some(state) {
            return false;
        }
        told.insert(topic.to_owned(), state.to_owned());
        drop(told);
        self.save();
        true
    }

    /// The trouble is over: forget it, so the next one is announced.
    pub(crate) fn end(&self) {
        if std::mem::take(&mut *self.told.borrow_mut()).is_empty() {
            return;
        }
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }

    fn save(&self) {
        let Some(path) = &self.path else { return };
        let text: String = self
            .told
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}\t{v}\n"))
            .collect();
        // Losing the file only means one repeated journal entry: never fail
        // the real work over it, and never wait for it (a held lock skips
        // this save; only root can hold it: a 0600 file of root's).
        let result = (|| {
            let Some(_lock) = try_lock("episode.lock")? else {
                return Err(std::io::Error::other(
                    "another kesgate process is saving it",
                ));
            };
            write_private(path, text.as_bytes())
        })();
        if let Err(e) = result {
            tracing::debug!("cannot keep {}: {e}", path.display());
        }
    }
}

fn read(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_announced_once_until_it_changes_or_ends() {
        let e = Episode::in_memory();
        assert!(!e.ongoing());
        assert!(e.changed("https://kes:7373", "keystore_unreachable"));
        assert!(!e.changed("https://kes:7373", "keystore_unreachable"));
        assert!(e.ongoing());
        assert!(e.changed("https://kes:7373", "unreachable"));
        e.end();
        assert!(!e.ongoing());
        assert!(e.changed("https://kes:7373", "unreachable"));
    }

    #[test]
    fn the_file_carries_the_episode_to_the_next_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("preflight.episode");
        let first = Episode {
            path: Some(path.clone()),
            told: RefCell::default(),
        };
        assert!(first.changed("failure", "timeout"));
        let second = Episode {
            path: Some(path.clone()),
            told: RefCell::new(read(&path)),
        };
        assert!(second.ongoing());
        assert!(!second.changed("failure", "timeout"));
        second.end();
        assert!(!path.exists());
    }
}
