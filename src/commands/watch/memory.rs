//! What the watch remembers between rounds (and boots): the state last
//! told per condition, when the Vault came back, the metrics file's state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the journal was told last, kept between rounds (and boots).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Memory {
    /// Condition name → the state last told (or silently taken).
    pub told: BTreeMap<String, String>,
    /// When the Vault was first seen unsealed and active again (Unix
    /// seconds): KES needs a health check to notice (docs/facts.md, "KES releases").
    pub vault_back_at: Option<i64>,
    /// Condition name → when it last changed state (Unix seconds): what
    /// `kesgate status` says "since" with.
    #[serde(default)]
    pub since: BTreeMap<String, i64>,
    /// The metrics file's problem already told ("" for none).
    #[serde(default)]
    pub textfile: String,
    /// The metrics file last written to (`None`: none configured).
    #[serde(default = "default_textfile")]
    pub textfile_path: Option<String>,
}

fn default_textfile() -> Option<String> {
    Some(crate::config::DEFAULT_TEXTFILE.to_owned())
}

impl Memory {
    /// The metrics file of the last round (the default before any).
    pub(super) fn last_textfile(&self) -> Option<std::path::PathBuf> {
        self.textfile_path.as_ref().map(std::path::PathBuf::from)
    }
}

impl Default for Memory {
    fn default() -> Memory {
        Memory {
            told: BTreeMap::new(),
            vault_back_at: None,
            since: BTreeMap::new(),
            textfile: String::new(),
            textfile_path: default_textfile(),
        }
    }
}
