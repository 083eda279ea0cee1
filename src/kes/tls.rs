//! The rustls client configuration for KES: our one fixed client certificate
//! (presented whatever CA hints the server sends, as MinIO does) and a server
//! verifier that is always on.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{Auth, KesSettings};

/// A problem with the local TLS material: fixed by editing files, not by waiting.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error(
        "cannot read CA {path}: {source}\n  fix: point [kes] ca at a PEM file or a directory of PEM files"
    )]
    CaRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "CA {path} contains no PEM certificate\n  fix: use the PEM (-----BEGIN CERTIFICATE-----) file of the CA that signed KES's certificate"
    )]
    CaEmpty { path: PathBuf },
    #[error("CA certificate in {path} is not usable: {reason}")]
    CaInvalid { path: PathBuf, reason: String },
    #[error(
        "cannot load the client certificate or key {path}: {reason}\n  fix: cert_file and key_file must be PEM; an encrypted key is not supported"
    )]
    ClientPem { path: PathBuf, reason: String },
    #[error("the client certificate and key do not fit together: {0}")]
    ClientAuth(String),
    #[error(
        "cannot use the operating system's trust store: {0}\n  fix: set [kes] ca to the CA file that signed KES's certificate"
    )]
    PlatformRoots(String),
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn client_config(kes: &KesSettings) -> Result<ClientConfig, TlsSetupError> {
    let provider = provider();
    let verifier = server_verifier(kes.ca.as_deref(), provider.clone())?;
    let (chain, key) = client_identity(&kes.auth)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::ClientAuth(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsSetupError::ClientAuth(e.to_string()))
}

/// A client configuration without a client certificate (MinIO's S3 API).
pub fn server_only_config(ca: Option<&Path>) -> Result<ClientConfig, TlsSetupError> {
    let provider = provider();
    let verifier = server_verifier(ca, provider.clone())?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::ClientAuth(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// With `ca` set only that CA is trusted (stricter than MinIO, which adds it
/// to the system roots: what kesgate accepts, MinIO accepts too).
pub(crate) fn server_verifier(
    ca: Option<&Path>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsSetupError> {
    let Some(ca) = ca else {
        let v = rustls_platform_verifier::Verifier::new(provider)
            .map_err(|e| TlsSetupError::PlatformRoots(e.to_string()))?;
        return Ok(Arc::new(v));
    };
    let mut roots = rustls::RootCertStore::empty();
    for path in ca_files(ca)? {
        let certs = CertificateDer::pem_file_iter(&path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsSetupError::CaInvalid {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        for cert in certs {
            roots.add(cert).map_err(|e| TlsSetupError::CaInvalid {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    if roots.is_empty() {
        return Err(TlsSetupError::CaEmpty {
            path: ca.to_owned(),
        });
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map(|v| v as Arc<dyn ServerCertVerifier>)
        .map_err(|e| TlsSetupError::CaInvalid {
            path: ca.to_owned(),
            reason: e.to_string(),
        })
}

/// A file, or every regular file in a directory (as MINIO_KMS_KES_CAPATH).
fn ca_files(ca: &Path) -> Result<Vec<PathBuf>, TlsSetupError> {
    let read_err = |source| TlsSetupError::CaRead {
        path: ca.to_owned(),
        source,
    };
    let meta = fs::metadata(ca).map_err(read_err)?;
    if !meta.is_dir() {
        return Ok(vec![ca.to_owned()]);
    }
    let mut files: Vec<PathBuf> = fs::read_dir(ca)
        .map_err(read_err)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn client_identity(
    auth: &Auth,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsSetupError> {
    match auth {
        Auth::ApiKey { key, .. } => {
            let (cert, private) = key
                .client_certificate()
                .map_err(|e| TlsSetupError::ClientAuth(e.to_string()))?;
            Ok((vec![cert], private))
        }
        Auth::CertFile { cert, key } => {
            let pem_err = |path: &Path, e: rustls_pki_types::pem::Error| TlsSetupError::ClientPem {
                path: path.to_owned(),
                reason: e.to_string(),
            };
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| pem_err(cert, e))?;
            if chain.is_empty() {
                return Err(TlsSetupError::ClientPem {
                    path: cert.clone(),
                    reason: "no certificate in it".into(),
                });
            }
            // Only the kind of failure is reported: the key's bytes never are.
            let private = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e))?;
            Ok((chain, private))
        }
    }
}
