//! KES API keys: parsing, generation, the identity KES derives, and the
//! self-signed client certificate that presents the key (as kms-go builds it).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ED25519, PublicKeyData, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::secret::Secret;

const PREFIX: &str = "kes:v1:";
const TYPE_ED25519: u8 = 0x00;
/// PKCS#8 v1 header for an Ed25519 private key (RFC 8410): the seed follows.
const PKCS8_ED25519_HEADER: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// kms-go's GenerateCertificate makes the certificate valid for 90 days.
const CERT_VALIDITY: time::Duration = time::Duration::days(90);

/// Why a string is not a KES API key. Never contains the key itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ApiKeyError {
    #[error("not base64 after the `kes:v1:` prefix")]
    NotBase64,
    #[error("invalid length: {0} bytes after decoding, a KES API key has 33")]
    InvalidLength(usize),
    #[error("unsupported key type {0:#04x}: only 0x00 (Ed25519) exists")]
    UnsupportedType(u8),
    #[error("the Ed25519 seed was rejected: {0}")]
    Crypto(String),
}

/// A KES identity: lowercase hex SHA-256 of a certificate's SubjectPublicKeyInfo.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Identity(String);

impl Identity {
    pub(crate) fn of_spki(spki_der: &[u8]) -> Identity {
        let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
        Identity(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The identity of the leaf certificate in `der`.
    pub(crate) fn of_certificate(der: &CertificateDer<'_>) -> Result<Identity, String> {
        let cert = webpki::EndEntityCert::try_from(der).map_err(|e| e.to_string())?;
        Ok(Identity::of_spki(cert.subject_public_key_info().as_ref()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed API key: the Ed25519 seed (secret) and the identity derived from it.
#[derive(Clone)]
pub(crate) struct ApiKey {
    seed: Secret<[u8; 32]>,
    identity: Identity,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(identity {})", self.identity)
    }
}

impl ApiKey {
    /// Parses `kes:v1:<base64>` exactly as kms-go does (the prefix is optional).
    pub(crate) fn parse(text: &str) -> Result<ApiKey, ApiKeyError> {
        let body = text.trim();
        let body = body.strip_prefix(PREFIX).unwrap_or(body);
        let bytes = STANDARD.decode(body).map_err(|_| ApiKeyError::NotBase64)?;
        if bytes.len() != 33 {
            return Err(ApiKeyError::InvalidLength(bytes.len()));
        }
        if bytes[0] != TYPE_ED25519 {
            return Err(ApiKeyError::UnsupportedType(bytes[0]));
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bytes[1..]);
        ApiKey::from_seed(seed)
    }

    /// A fresh key from the operating system's random source.
    pub(crate) fn generate() -> Result<ApiKey, ApiKeyError> {
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| ApiKeyError::Crypto("no randomness available".into()))?;
        ApiKey::from_seed(seed)
    }

    fn from_seed(seed: [u8; 32]) -> Result<ApiKey, ApiKeyError> {
        let key_pair = key_pair(&seed)?;
        let identity = Identity::of_spki(&key_pair.subject_public_key_info());
        Ok(ApiKey {
            seed: Secret::new(seed),
            identity,
        })
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The key in KES's text form. Callers must treat the result as a secret.
    pub(crate) fn to_text(&self) -> Secret<String> {
        let mut bytes = Vec::with_capacity(33);
        bytes.push(TYPE_ED25519);
        bytes.extend_from_slice(self.seed.expose());
        Secret::new(format!("{PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// The self-signed client certificate kms-go would present for this key:
    /// CN = identity, clientAuth, CA:FALSE, 90 days, random 128-bit serial.
    pub(crate) fn client_certificate(
        &self,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), ApiKeyError> {
        let key_pair = key_pair(self.seed.expose())?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| ApiKeyError::Crypto(e.to_string()))?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, self.identity.as_str());
        params.distinguished_name = name;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now;
        params.not_after = now + CERT_VALIDITY;
        params.serial_number = Some(random_serial()?);
        let cert = params
            .self_signed(&key_pair)
            .map_err(|e| ApiKeyError::Crypto(e.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8(self.seed.expose())));
        Ok((cert.der().clone(), key))
    }
}

fn pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = Vec::with_capacity(48);
    der.extend_from_slice(&PKCS8_ED25519_HEADER);
    der.extend_from_slice(seed);
    der
}

fn key_pair(seed: &[u8; 32]) -> Result<KeyPair, ApiKeyError> {
    let der = PrivatePkcs8KeyDer::from(pkcs8(seed));
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_ED25519)
        .map_err(|e| ApiKeyError::Crypto(e.to_string()))
}

/// A positive serial below 2^128, as kms-go draws it.
fn random_serial() -> Result<SerialNumber, ApiKeyError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiKeyError::Crypto("no randomness available".into()))?;
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Public test vector from minio/kms-go kes/apikey_test.go.
    const KEY: &str = "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs";
    const IDENTITY: &str = "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6";

    #[test]
    fn identity_matches_kes_test_vector() {
        let key = ApiKey::parse(KEY).unwrap();
        assert_eq!(key.identity().as_str(), IDENTITY);
    }

    #[test]
    fn prefix_is_optional_and_text_round_trips() {
        let key = ApiKey::parse(KEY.strip_prefix(PREFIX).unwrap()).unwrap();
        assert_eq!(key.identity().as_str(), IDENTITY);
        assert_eq!(key.to_text().expose(), KEY);
    }

    #[test]
    fn certificate_identity_is_the_key_identity() {
        let key = ApiKey::parse(KEY).unwrap();
        let (cert, _) = key.client_certificate().unwrap();
        assert_eq!(Identity::of_certificate(&cert).unwrap().as_str(), IDENTITY);
    }

    #[test]
    fn rejects_what_kms_go_rejects() {
        assert!(matches!(
            ApiKey::parse("kes:v1:!!!"),
            Err(ApiKeyError::NotBase64)
        ));
        let short = format!("{PREFIX}{}", STANDARD.encode([0u8; 32]));
        assert!(matches!(
            ApiKey::parse(&short),
            Err(ApiKeyError::InvalidLength(32))
        ));
        let mut typed = vec![1u8];
        typed.extend_from_slice(&[7u8; 32]);
        let wrong_type = format!("{PREFIX}{}", STANDARD.encode(typed));
        assert!(matches!(
            ApiKey::parse(&wrong_type),
            Err(ApiKeyError::UnsupportedType(1))
        ));
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let key = ApiKey::parse(KEY).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("AGaV6"));
        assert!(shown.contains(IDENTITY));
    }
}
