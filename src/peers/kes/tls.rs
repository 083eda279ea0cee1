//! The rustls client configuration for KES: our one fixed client certificate
//! (presented whatever CA hints the server sends, as MinIO does) over the
//! shared server verification (crate::net::tls: what MinIO trusts, Go's rules).

use std::sync::Arc;

use rustls::ClientConfig;

use crate::config::KesSettings;
use crate::net::tls::{Section, TlsSetupError, TrustPool};

pub(crate) fn client_config(
    kes: &KesSettings,
    pool: Arc<TrustPool>,
) -> Result<ClientConfig, TlsSetupError> {
    let (chain, key) = kes.client.pair();
    crate::net::tls::builder(Section::Kes, pool)?
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsSetupError::Setup {
            section: Section::Kes,
            reason: format!("the client certificate and key do not fit together: {e}"),
        })
}
