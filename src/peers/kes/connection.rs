//! A KES client as MinIO connects: its identity, and the trust it was
//! given (built as MinIO's user builds it: crate::host::minio_unit), with
//! how that trust is described in messages.

use std::path::PathBuf;
use std::sync::Arc;

use super::client::KesClient;
use crate::config::KesSettings;
use crate::net::tls::{CaSource, TlsSetupError, TrustPool};

pub(crate) struct KesConnection {
    pub client: KesClient,
    /// The pool, with the chains it verified (certificate lifetimes).
    pub pool: Arc<TrustPool>,
    pub source: CaSource,
    /// "trusted: …" for an untrusted server's message ([`describe_trust`]).
    pub trust: String,
}

impl KesConnection {
    /// The client for `kes` over `pool` (what `source` names).
    pub(crate) fn new(
        kes: &KesSettings,
        pool: Arc<TrustPool>,
        source: CaSource,
    ) -> Result<KesConnection, TlsSetupError> {
        let trust = describe_trust(&source, &pool.skipped);
        let client = KesClient::new(kes, pool.clone())?;
        Ok(KesConnection {
            client,
            pool,
            source,
            trust,
        })
    }
}

/// What is trusted for KES, as an untrusted server's message names it:
/// the pool's source, and the files MinIO's user cannot read.
pub(crate) fn describe_trust(source: &CaSource, skipped: &[PathBuf]) -> String {
    let mut trust = format!("\n  trusted: {source}, as MinIO does");
    for p in skipped {
        trust.push_str(&format!(
            "\n  skipped: {} (MinIO's user cannot read it)",
            p.display()
        ));
    }
    trust
}
