//! TLS as MinIO does it, shared by the KES and MinIO clients: the trust pool
//! MinIO builds (system roots plus the CA path, read as MinIO's user) and a
//! server verifier with Go's crypto/x509 rules, so that kesgate trusts a
//! server exactly when MinIO would.

pub(crate) mod access;
pub(crate) mod cert;
pub(crate) mod pool;
mod signature;
pub(crate) mod verify;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme};

use cert::{Cert, Hash, PublicKey, SigAlg};
pub(crate) use pool::{CaSource, Expiry, SeenCert, TrustPool};
use verify::{Host, VerifyError};

/// The configuration section a TLS setting came from, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Kes,
    Minio,
    Vault,
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Section::Kes => "[kes]",
            Section::Minio => "[minio]",
            Section::Vault => "[vault]",
        })
    }
}

/// A problem with the local TLS material: fixed by editing files, not by waiting.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsSetupError {
    #[error(
        "cannot read {section} ca {path}: {source}\n  fix: point {section} ca at a PEM file or a directory of PEM files"
    )]
    CaRead {
        section: Section,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{section} ca {path} contains no PEM certificate (MinIO refuses to start with such a CA file)\n  fix: use the PEM (-----BEGIN CERTIFICATE-----) file of the CA that signed the server's certificate"
    )]
    CaEmpty { section: Section, path: PathBuf },
    #[error("{section} ca {path} cannot be read by MinIO: {problem}")]
    CaNotReadable {
        section: Section,
        path: PathBuf,
        problem: String,
    },
    #[error("[kes] client certificate or key {path} cannot be read by MinIO: {problem}")]
    ClientNotReadable { path: PathBuf, problem: String },
    #[error("{section}: cannot set up TLS: {reason}")]
    Setup { section: Section, reason: String },
}

/// The server name the TLS verifier sees for `url` (and records a chain
/// under): the host, lower case, an IPv6 address without brackets.
pub(crate) fn server_name(url: &reqwest::Url) -> String {
    url.host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase()
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration builder that verifies servers against `pool`
/// with Go's rules; the caller adds client authentication.
pub(crate) fn builder(
    section: Section,
    pool: Arc<TrustPool>,
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, TlsSetupError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Setup {
            section,
            reason: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(GoVerifier { pool })))
}

/// The one way kesgate builds an HTTP client: this TLS configuration,
/// bounded connect and request times, HTTP/1.1, TCP_NODELAY, never a proxy
/// (it would terminate mTLS) and never a redirect (KES, MinIO's S3 API and
/// Vault's health endpoints do not redirect kesgate's requests; a 3xx is
/// reported, not followed).
pub(crate) fn http_client(
    section: Section,
    tls: ClientConfig,
    connect: std::time::Duration,
    request: std::time::Duration,
) -> Result<reqwest::Client, TlsSetupError> {
    http_client_via(section, tls, connect, request, None)
}

/// [`http_client`] through `proxy` (an HTTP CONNECT tunnel, which carries
/// mTLS end to end): only for a check that takes MinIO's path to KES,
/// proxy included, as MinIO's Go client would.
pub(crate) fn http_client_via(
    section: Section,
    tls: ClientConfig,
    connect: std::time::Duration,
    request: std::time::Duration,
    proxy: Option<reqwest::Proxy>,
) -> Result<reqwest::Client, TlsSetupError> {
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(connect)
        .timeout(request)
        .http1_only()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none());
    let builder = match proxy {
        Some(p) => builder.proxy(p),
        None => builder.no_proxy(),
    };
    builder.build().map_err(|e| TlsSetupError::Setup {
        section,
        reason: e.to_string(),
    })
}

/// A response body, read up to `limit` bytes (peers' answers are small;
/// anything larger is not worth the memory).
pub(crate) async fn body_capped(
    resp: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while body.len() < limit {
        match resp.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    body.truncate(limit);
    Ok(body)
}

/// Go's server verification over a MinIO trust pool.
#[derive(Debug)]
pub(crate) struct GoVerifier {
    pool: Arc<TrustPool>,
}

impl ServerCertVerifier for GoVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ip;
        let host = match server_name {
            ServerName::DnsName(d) => Host::Dns(d.as_ref()),
            ServerName::IpAddress(a) => {
                ip = IpAddr::from(*a);
                Host::Ip(ip)
            }
            _ => return Err(other("unsupported server name".into())),
        };
        let chain: Vec<&[u8]> = intermediates.iter().map(AsRef::as_ref).collect();
        let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let verified = self
            .pool
            .decide(|roots| verify::verify(end_entity.as_ref(), &chain, roots, &host, secs))
            .map_err(|e| {
                let at = |t: i64| {
                    UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.max(0) as u64))
                };
                match e {
                    VerifyError::Expired { now, not_after, .. } => {
                        rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                            time: at(now),
                            not_after: at(not_after),
                        })
                    }
                    VerifyError::NotYetValid {
                        now, not_before, ..
                    } => rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
                        time: at(now),
                        not_before: at(not_before),
                    }),
                    other_error => other(other_error.to_string()),
                }
            })?;
        let name = match &host {
            Host::Dns(d) => d.to_ascii_lowercase(),
            Host::Ip(ip) => ip.to_string(),
        };
        self.pool.saw(&name, &verified);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ED25519,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PSS_SHA384,
            SignatureScheme::RSA_PSS_SHA512,
            SignatureScheme::RSA_PKCS1_SHA256,
            SignatureScheme::RSA_PKCS1_SHA384,
            SignatureScheme::RSA_PKCS1_SHA512,
        ]
    }
}

/// A TLS failure in an operator's words. rustls's own Display shows some
/// as Rust values (`Other(OtherError(…))`, `BadEncoding`): never to an
/// operator.
pub(crate) fn describe(e: &rustls::Error) -> String {
    use CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => {
            let what = match c {
                C::Other(o) => o.0.to_string(),
                C::BadEncoding => "it is not a well-formed certificate".into(),
                C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
                C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
                C::Revoked => "it is revoked".into(),
                C::UnknownIssuer => "certificate signed by unknown authority".into(),
                C::BadSignature => "its signature does not verify".into(),
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "it does not name the host".into()
                }
                C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                    "it is not for TLS server authentication".into()
                }
                other => variant_in_words(other),
            };
            format!("invalid peer certificate: {what}")
        }
        other => other.to_string(),
    }
}

/// A rustls enum's variant name in words ("UnhandledCriticalExtension" →
/// "unhandled critical extension"), never its fields: the Debug text is
/// only read here, and never shown.
fn variant_in_words(v: &dyn std::fmt::Debug) -> String {
    let name = format!("{v:?}");
    let mut words = String::new();
    for ch in name.chars().take_while(|c| c.is_alphanumeric()) {
        if ch.is_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.extend(ch.to_lowercase());
    }
    words
}

fn other(text: String) -> rustls::Error {
    #[derive(Debug)]
    struct Text(String);
    impl std::fmt::Display for Text {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Text {}
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Text(text)))))
}

/// The server's handshake signature, checked with the key sizes Go
/// accepts. In TLS 1.3 an ECDSA scheme names its curve and RSA means PSS.
fn handshake_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    tls13: bool,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let bad = || rustls::Error::InvalidCertificate(CertificateError::BadSignature);
    let cert = Cert::parse(cert.as_ref()).map_err(other)?;
    let alg = match dss.scheme {
        SignatureScheme::RSA_PKCS1_SHA256 if !tls13 => SigAlg::RsaPkcs1(Hash::Sha256),
        SignatureScheme::RSA_PKCS1_SHA384 if !tls13 => SigAlg::RsaPkcs1(Hash::Sha384),
        SignatureScheme::RSA_PKCS1_SHA512 if !tls13 => SigAlg::RsaPkcs1(Hash::Sha512),
        SignatureScheme::RSA_PSS_SHA256 => SigAlg::RsaPss(Hash::Sha256),
        SignatureScheme::RSA_PSS_SHA384 => SigAlg::RsaPss(Hash::Sha384),
        SignatureScheme::RSA_PSS_SHA512 => SigAlg::RsaPss(Hash::Sha512),
        SignatureScheme::ECDSA_NISTP256_SHA256
            if !tls13 || matches!(cert.key, PublicKey::EcP256(_)) =>
        {
            SigAlg::Ecdsa(Hash::Sha256)
        }
        SignatureScheme::ECDSA_NISTP384_SHA384
            if !tls13 || matches!(cert.key, PublicKey::EcP384(_)) =>
        {
            SigAlg::Ecdsa(Hash::Sha384)
        }
        SignatureScheme::ED25519 => SigAlg::Ed25519,
        _ => {
            return Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
    };
    signature::verify(alg, &cert.key, message, dss.signature()).map_err(|e| {
        if e.contains("not accepted") || e.contains("unsupported") {
            other(format!("the server's key cannot be used: {e}"))
        } else {
            bad()
        }
    })?;
    Ok(HandshakeSignatureValid::assertion())
}

#[cfg(test)]
mod describe_tests {
    use super::*;

    #[test]
    fn tls_failures_are_words_not_rust_values() {
        let said = describe(&other("certificate signed by unknown authority".into()));
        assert_eq!(
            said,
            "invalid peer certificate: certificate signed by unknown authority"
        );
        for e in [
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
            rustls::Error::InvalidCertificate(CertificateError::UnhandledCriticalExtension),
            rustls::Error::InvalidCertificate(CertificateError::UnknownRevocationStatus),
        ] {
            let s = describe(&e);
            assert!(!s.contains('(') && !s.contains("Error"), "{s}");
        }
        assert_eq!(
            describe(&rustls::Error::InvalidCertificate(
                CertificateError::UnhandledCriticalExtension
            )),
            "invalid peer certificate: unhandled critical extension"
        );
    }
}
