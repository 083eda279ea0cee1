//! The server side of KES's TLS, as the releases behave (docs/facts.md, "KES releases"): a
//! client certificate is always required (none: TLS 1.3 alert
//! `certificate_required`); 2023 releases verify its chain unless started
//! with `--auth=off` (a self-signed API-key certificate then gets alert
//! `unknown_ca`); 2024+ take any certificate, proving only possession of its
//! key. The extended key usage is never checked. 2024+ offers h2 and
//! HTTP/1.1, 2023 HTTP/1.1 only.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DistinguishedName, ServerConfig, SignatureScheme};

use crate::Generation;
use crate::pki::{ServerCert, TestCa};

/// Client certificate verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// What each release does when not told: 2023 verifies, 2024+ does not.
    ReleaseDefault,
    /// `kes server --auth=off` (2023) / no `tls.auth` (2024+): any certificate.
    Off,
}

#[derive(Debug)]
struct AnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `relaxed`: some route has `skip_auth`, so the listener only requests a
/// certificate (and verifies one if given, where it verifies at all).
pub fn server_config(
    cert: &ServerCert,
    generation: Generation,
    auth: ClientAuth,
    relaxed: bool,
) -> Arc<ServerConfig> {
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    let verifies = auth == ClientAuth::ReleaseDefault && generation != Generation::V2024;
    let verifier: Arc<dyn ClientCertVerifier> = if verifies {
        // The CAs KES trusts for clients: none that signed an API-key
        // certificate (those are self-signed).
        let mut roots = rustls::RootCertStore::empty();
        let ca = TestCa::new("kes-client-ca");
        let der = <CertificateDer as rustls::pki_types::pem::PemObject>::from_pem_slice(
            ca.ca_pem.as_bytes(),
        )
        .expect("client CA PEM");
        roots.add(der).expect("client CA");
        let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        );
        let builder = if relaxed {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder.build().expect("client verifier")
    } else {
        Arc::new(AnyClientCert {
            algorithms: provider.signature_verification_algorithms,
            mandatory: !relaxed,
        })
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert.cert_der.clone()], cert.key_der.clone_key())
        .expect("server certificate");
    config.alpn_protocols = match generation {
        Generation::V2024 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        _ => vec![b"http/1.1".to_vec()],
    };
    Arc::new(config)
}
