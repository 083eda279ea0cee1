//! `kesgate status`: is encryption at rest healthy on this host, and if
//! not, which link of the chain is broken? Units over D-Bus, each KES
//! endpoint (readiness, latency, version, API generation, MinIO's round
//! trip), the env file, the keys and the buckets. Read-only: nothing is
//! created, rendered or started. What cannot be seen (no system bus, not
//! root) is said, not guessed.

mod gather;
mod layout;
pub(crate) mod links;
pub(crate) mod metrics;
mod show;
pub(crate) mod since;

use std::path::Path;

use serde::Serialize;

use super::Outcome;
use crate::cli::StatusFormat;

use crate::host::systemd::bus::UnitState;
pub(crate) use gather::{gather, look};
pub(crate) use show::human;

/// `kesgate status [--json]`: the report on standard output; the outcome
/// says healthy, broken, or not all seen.
pub(crate) async fn run(config: &Path, format: StatusFormat) -> Outcome {
    let report = gather(config).await;
    match format {
        StatusFormat::Text => out!("{}", human(&report)),
        StatusFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(text) => outln!("{text}"),
            Err(e) => {
                outln!("{{\"ok\": false, \"problems\": [\"cannot encode the report: {e}\"]}}")
            }
        },
        StatusFormat::Nagios => {
            let (line, code) = show::nagios(&report);
            outln!("{line}");
            return Outcome::Plugin(code);
        }
        StatusFormat::Prometheus => {
            out!("{}", metrics::render(&report, crate::text::unix_now()));
        }
    }
    report.outcome()
}

/// The `--json` document (docs/commands.md lists the fields).
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub config: String,
    pub ok: bool,
    /// Whether kesgate's checks ran at all: false when the configuration
    /// did not load (broken, unreadable, gone), so nothing below was
    /// looked at — a state of its own, never taken for "nothing wrong".
    pub checked: bool,
    /// Broken links, worst first; empty when healthy.
    pub problems: Vec<String>,
    /// What is not broken yet but will be (a certificate expiring within
    /// `[watch] warn_before`).
    pub warnings: Vec<String>,
    /// What kesgate could not look at, and why.
    pub not_seen: Vec<String>,
    /// The links kesgate could not look at (crate::commands::status::links
    /// names), each with why: their series are absent, and
    /// `kesgate_link_checked` says so.
    #[serde(skip)]
    pub unchecked: std::collections::BTreeMap<&'static str, String>,
    /// `[watch] warn_before`, in days (the warning threshold).
    pub warn_before_days: u64,
    /// `None` without a system bus.
    pub units: Option<Vec<UnitState>>,
    pub identity: Option<String>,
    /// What kesgate (like MinIO) trusts for KES: "the system roots + PATH".
    pub trust: Option<String>,
    pub kes: Vec<EndpointStatus>,
    /// Why no KES endpoint could be asked at all (the client could not be
    /// set up: trust, client certificate); `None` when it could.
    pub kes_client_error: Option<String>,
    /// `[vault]`: the Vault behind KES (null when not configured).
    pub vault: Option<crate::peers::vault::VaultStatus>,
    /// The certificates the Vault presented (over https), with their
    /// earliest expiry.
    pub vault_certificates: Vec<crate::net::tls::SeenCert>,
    pub env_file: Option<EnvStatus>,
    /// The fleet fingerprint: a keyed MAC of the MINIO_* set MinIO compares
    /// across a cluster's nodes (equal on every healthy node).
    pub fingerprint: Option<String>,
    /// Why there is none (no shared key, MinIO's environment unreadable).
    pub fingerprint_note: Option<String>,
    pub keys: Vec<KeyStatus>,
    /// `None` when MinIO could not be asked.
    pub buckets: Option<Vec<BucketStatus>>,
    /// Since when each condition holds, as the watch's memory knows it
    /// (condition name → Unix seconds): empty without a watch.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub since: std::collections::BTreeMap<String, i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct EndpointStatus {
    pub endpoint: String,
    pub ready: bool,
    /// The state's stable name: "ready", "unproven", "unreachable",
    /// "keystore_unreachable", "keystore_unavailable", "forbidden", …
    pub condition: String,
    /// "ready (/v1/ready)" or what is wrong.
    pub state: String,
    pub latency_ms: u64,
    /// How long MinIO's start-up round trip took (when ready), in
    /// milliseconds to the microsecond.
    pub round_trip_ms: Option<f64>,
    pub version: Option<String>,
    /// "2024+", "2023-05", "2023-02", or "2023-05+" when only /v1/ready told.
    pub api: Option<String>,
    /// MinIO's start-up round trip with the default key: "ok" or the error.
    pub round_trip: Option<String>,
    /// Whether the default key exists, as that round trip proved it (the
    /// keys check asks no second time).
    #[serde(skip)]
    pub default_key_present: Option<bool>,
    /// Ready, but the key store was not proven to answer now (a narrow
    /// policy): why, and the policy line that would prove it.
    pub unproven: Option<String>,
    /// The certificates in MinIO's path to this endpoint: the chain it
    /// presented (server, ca) and our client certificate (cert/key auth).
    pub certificates: Vec<crate::net::tls::SeenCert>,
    /// The earliest NotAfter among them (Unix seconds) and the days left.
    pub earliest_expiry: Option<i64>,
    pub days_left: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct EnvStatus {
    /// The file that holds the KES variables.
    pub path: String,
    /// Who reads it: "systemd", "MinIO (MINIO_CONFIG_ENV_FILE of …)" or
    /// "systemd and MinIO".
    pub read_by: String,
    pub exists: bool,
    pub owner: Option<String>,
    pub mode: Option<String>,
    pub matches: bool,
    pub drift: Vec<String>,
    pub minio_problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct KeyStatus {
    pub name: String,
    /// `None` when no KES endpoint could be asked.
    pub present: Option<bool>,
}

#[derive(Debug, Serialize)]
pub(crate) struct BucketStatus {
    pub name: String,
    pub key: String,
    pub ok: bool,
    /// "aws:kms with key K", "none", or the error reading it.
    pub encryption: String,
}

impl EnvStatus {
    /// The env file's state (`missing`, `refused`, `differs`, `matches`)
    /// and its sentence with the fix: `status`'s problem and the watch's
    /// condition say the same.
    pub(crate) fn verdict(&self) -> (&'static str, String) {
        if !self.exists {
            (
                "missing",
                format!(
                    "{} does not exist; fix: `kesgate render` writes it",
                    self.path
                ),
            )
        } else if !self.minio_problems.is_empty() {
            (
                "refused",
                format!(
                    "MinIO would refuse {}: {}; fix: `kesgate render` writes it as MinIO reads it",
                    self.path,
                    self.minio_problems.join("; ")
                ),
            )
        } else if !self.matches {
            (
                "differs",
                format!(
                    "{} no longer matches kesgate's configuration: {}; fix: `kesgate render --diff` shows it, `kesgate render` writes it",
                    self.path,
                    self.drift.join(", ")
                ),
            )
        } else {
            (
                "matches",
                format!("{} matches kesgate's configuration", self.path),
            )
        }
    }
}

impl EndpointStatus {
    /// Its state as a sentence that names the endpoint (a permanent
    /// failure's sentence names it already).
    pub(crate) fn sentence(&self) -> String {
        if self.state.contains(&self.endpoint) {
            self.state.clone()
        } else {
            format!("KES {}: {}", self.endpoint, self.state)
        }
    }

    /// MinIO's round trip when it did not simply work: the failure, or
    /// generate/decrypt working with a describe warning.
    pub(crate) fn round_trip_problem(&self) -> Option<String> {
        let rt = self.round_trip.as_deref().filter(|rt| *rt != "ok")?;
        Some(if rt.starts_with("generate/decrypt ok") {
            format!("KES {}: {rt}", self.endpoint)
        } else {
            format!("KES {}: MinIO's round trip fails: {rt}", self.endpoint)
        })
    }
}

impl Report {
    /// A report with nothing seen yet.
    pub(crate) fn empty(config: &str) -> Report {
        Report {
            config: config.to_owned(),
            ok: false,
            checked: false,
            problems: Vec::new(),
            warnings: Vec::new(),
            not_seen: Vec::new(),
            unchecked: std::collections::BTreeMap::new(),
            warn_before_days: crate::config::DEFAULT_WARN_BEFORE.as_secs() / 86_400,
            units: None,
            identity: None,
            trust: None,
            kes: Vec::new(),
            kes_client_error: None,
            vault: None,
            vault_certificates: Vec::new(),
            env_file: None,
            fingerprint: None,
            fingerprint_note: None,
            keys: Vec::new(),
            buckets: None,
            since: std::collections::BTreeMap::new(),
        }
    }

    /// A link kesgate could not look at (a `links` name) and why, told
    /// under "not seen".
    pub(crate) fn not_seen_link(&mut self, link: &'static str, why: String) {
        self.unchecked.insert(link, why.clone());
        self.not_seen.push(why);
    }

    /// A link kesgate could not look at because something of the host is
    /// broken (a problem with its fix).
    pub(crate) fn broken_link(&mut self, link: &'static str, why: String) {
        self.unchecked.insert(link, why.clone());
        self.problems.push(why);
    }

    pub(crate) fn outcome(&self) -> Outcome {
        if !self.problems.is_empty() {
            Outcome::Broken
        } else if !self.warnings.is_empty() {
            Outcome::Warning
        } else if !self.not_seen.is_empty() {
            Outcome::Unseen
        } else {
            Outcome::Done
        }
    }
}
