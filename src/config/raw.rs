//! The configuration file as written: serde structs that keep source spans
//! so that every complaint can name the file, line and column.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub kes: Spanned<RawKes>,
    #[serde(default)]
    pub wait: RawWait,
    #[serde(default)]
    pub env_file: RawEnvFile,
    pub minio: Option<Spanned<RawMinio>>,
    #[serde(default)]
    pub keys: Vec<RawKey>,
    #[serde(default)]
    pub buckets: Vec<RawBucket>,
    pub vault: Option<Spanned<RawVault>>,
    #[serde(default)]
    pub watch: RawWatch,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    pub warn_before: Option<Spanned<String>>,
    pub fingerprint_key_file: Option<Spanned<PathBuf>>,
    pub textfile: Option<Spanned<PathBuf>>,
}

/// `[vault]`: the KMS behind KES, for diagnosis only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVault {
    pub address: Spanned<OneOrMany>,
    pub ca: Option<Spanned<PathBuf>>,
}

/// A string (a comma list allowed) or an array of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMinio {
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub ca: Option<Spanned<PathBuf>>,
    pub access_key_file: Option<Spanned<PathBuf>>,
    pub secret_key_file: Option<Spanned<PathBuf>>,
    /// MinIO's systemd unit (default minio.service).
    pub unit: Option<Spanned<String>>,
    /// The user MinIO runs as, when not minio.service's `User=`.
    pub user: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    pub name: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBucket {
    pub name: Spanned<String>,
    pub key: Option<Spanned<String>>,
    #[serde(default)]
    pub create: bool,
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvFile {
    pub path: Option<Spanned<PathBuf>>,
    /// Octal, for a file kesgate creates, e.g. "0600".
    pub mode: Option<Spanned<String>>,
    pub owner: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    /// Extra variables kesgate manages (written in name order).
    #[serde(default)]
    pub set: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKes {
    pub endpoints: Spanned<Vec<Spanned<String>>>,
    pub api_key: Option<Spanned<String>>,
    pub api_key_file: Option<Spanned<PathBuf>>,
    pub cert_file: Option<Spanned<PathBuf>>,
    pub key_file: Option<Spanned<PathBuf>>,
    pub ca: Option<Spanned<PathBuf>>,
    pub default_key: Spanned<String>,
    pub key_retry_window: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWait {
    pub timeout: Option<Spanned<String>>,
    pub require: Option<Spanned<Require>>,
    pub max_interval: Option<Spanned<String>>,
    pub kes_unit: Option<Spanned<String>>,
}

/// How many of the expanded endpoints must be ready.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Require {
    Any,
    All,
}

impl std::fmt::Display for Require {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Require::Any => "any",
            Require::All => "all",
        })
    }
}
