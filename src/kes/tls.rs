//! The rustls client configuration for KES: our one fixed client certificate
//! (presented whatever CA hints the server sends, as MinIO does) over the
//! shared server verification (crate::tls: what MinIO trusts, Go's rules).

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{Auth, KesSettings};
use crate::tls::{Section, TlsSetupError, TrustPool};

pub fn client_config(
    kes: &KesSettings,
    pool: Arc<TrustPool>,
) -> Result<ClientConfig, TlsSetupError> {
    let (chain, key) = client_identity(&kes.auth)?;
    crate::tls::builder(Section::Kes, pool)?
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsSetupError::Setup {
            section: Section::Kes,
            reason: format!("the client certificate and key do not fit together: {e}"),
        })
}

fn client_identity(
    auth: &Auth,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsSetupError> {
    match auth {
        Auth::ApiKey { key, .. } => {
            let (cert, private) = key.client_certificate().map_err(|e| TlsSetupError::Setup {
                section: Section::Kes,
                reason: e.to_string(),
            })?;
            Ok((vec![cert], private))
        }
        Auth::CertFile { cert, key } => {
            let pem_err = |path: &Path, e: rustls_pki_types::pem::Error| TlsSetupError::ClientPem {
                path: path.to_owned(),
                reason: e.to_string(),
            };
            let read = |path: &Path, cap| {
                crate::regular_file::read(path, cap).map_err(|e| TlsSetupError::ClientPem {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
            };
            let chain =
                CertificateDer::pem_slice_iter(&read(cert, crate::regular_file::MAX_CONFIG)?)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| pem_err(cert, e))?;
            if chain.is_empty() {
                return Err(TlsSetupError::ClientPem {
                    path: cert.clone(),
                    reason: "no certificate in it".into(),
                });
            }
            // Only the kind of failure is reported: the key's bytes never are.
            let private =
                PrivateKeyDer::from_pem_slice(&read(key, crate::regular_file::MAX_SECRET)?)
                    .map_err(|e| pem_err(key, e))?;
            Ok((chain, private))
        }
    }
}
