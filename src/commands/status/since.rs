//! Since when a condition holds, as the watch's memory knows it: the time
//! each condition (`kes <endpoint>`, `vault <address>`, `env <path>`, …)
//! last changed state. Read-only; no memory (no watch yet, not root) is
//! no "since", never an error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::files::{atomic, safe_path};

/// The watch's memory file, in kesgate's state directory.
pub(crate) const MEMORY_FILE: &str = "watch.json";
/// The largest memory file read (a few hundred conditions).
const MEMORY_CAP: u64 = 1 << 20;

/// The watch's memory file's path.
pub(crate) fn memory_path() -> PathBuf {
    atomic::state_dir().join(MEMORY_FILE)
}

/// The watch's memory, or as much of it as `T` takes; a missing,
/// unreadable or unparsable one is `T::default()` (a fresh start).
pub(crate) fn read_memory<T: DeserializeOwned + Default>() -> T {
    let Ok(place) = safe_path::place(&memory_path()) else {
        return T::default();
    };
    match atomic::read_at(&place, MEMORY_CAP) {
        Ok(Some((bytes, _))) => serde_json::from_slice(&bytes).unwrap_or_default(),
        _ => T::default(),
    }
}

#[derive(Default, Deserialize)]
struct Changed {
    #[serde(default)]
    since: BTreeMap<String, i64>,
}

/// Condition name → when it last changed (Unix seconds).
pub(crate) fn read() -> BTreeMap<String, i64> {
    read_memory::<Changed>().since
}

/// " (since 2026-12-06 10:04:05 UTC, 5m ago)" for `name`, or nothing.
pub(crate) fn phrase(since: &BTreeMap<String, i64>, name: &str, now: i64) -> String {
    let Some(&at) = since.get(name) else {
        return String::new();
    };
    let ago = std::time::Duration::from_secs(now.saturating_sub(at).max(0) as u64);
    format!(
        " (since {}, {} ago)",
        crate::text::unix_time(at),
        humantime::format_duration(ago)
    )
}
