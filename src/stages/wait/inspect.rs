//! `kesgate status`'s view of one endpoint, read-only: one probe, judged
//! in the words `wait` would use for the same answer.

use super::permanent_error;
use super::probe::{Api, Outcome, probe};
use crate::config::{Endpoint, KesSettings};
use crate::peers::kes::client::KesClient;

/// What one probe of an endpoint found.
pub(crate) struct Inspection {
    pub ready: bool,
    /// The state's stable name: "ready", "unproven" (ready, freshness not
    /// proven), a not-ready kind ("keystore_unreachable", …) or a
    /// permanent failure ("forbidden", "untrusted", …).
    pub condition: &'static str,
    /// A failure waiting cannot heal (policy, trust, not KES).
    pub permanent: bool,
    /// "ready (via)", the transient state, or a permanent failure's
    /// sentence and fix (exactly as `wait` prints it).
    pub state: String,
    /// Ready, but the key store was not proven to answer now: why and the fix.
    pub unproven: Option<String>,
    /// What the probe learned of the API generation.
    pub api: Api,
}

/// Probes `endpoint` once. `trust`: what is trusted, as MinIO does.
pub(crate) async fn inspect(
    client: &KesClient,
    kes: &KesSettings,
    trust: &str,
    endpoint: &Endpoint,
) -> Inspection {
    let mut api = Api::Unknown;
    let outcome = probe(client, endpoint, &mut api, &kes.default_key).await;
    let permanent = matches!(outcome, Outcome::Failed(_));
    let (ready, condition, state, unproven) = match outcome {
        Outcome::Ready { via, unproven } => (
            true,
            if unproven.is_some() {
                "unproven"
            } else {
                "ready"
            },
            format!("ready ({via})"),
            unproven.map(|u| u.to_string()),
        ),
        Outcome::NotReady(nr) => (
            false,
            nr.kind.as_str(),
            format!("{}: {}", nr.kind.describe(), nr.detail),
            None,
        ),
        Outcome::Failed(p) => (
            false,
            p.as_str(),
            crate::text::headline_and_fix(&permanent_error(kes, trust, endpoint.clone(), p)),
            None,
        ),
    };
    Inspection {
        ready,
        condition,
        permanent,
        state,
        unproven,
        api,
    }
}
