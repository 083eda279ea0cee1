//! Signature checks with the key sizes Go accepts: *ring* for ECDSA and
//! Ed25519, the `rsa` crate for RSA, because Go (and so MinIO) accepts RSA
//! keys from 1024 bits and *ring* only from 2048.

use ring::signature::{self as ring_sig, UnparsedPublicKey, VerificationAlgorithm};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::signature::Verifier;

use super::cert::{Hash, PublicKey, SigAlg};

/// Go's floor for RSA moduli (crypto/rsa, since Go 1.24; older Go had none).
const RSA_MIN_BITS: usize = 1024;
/// Go verifies up to 8192 bits in TLS; larger keys are refused as a DoS guard.
const RSA_MAX_BITS: usize = 8192;

pub(super) fn verify(
    alg: SigAlg,
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    match (alg, key) {
        (SigAlg::RsaPkcs1(h), PublicKey::Rsa(der)) => rsa_verify(der, h, false, message, signature),
        (SigAlg::RsaPss(h), PublicKey::Rsa(der)) => rsa_verify(der, h, true, message, signature),
        (SigAlg::Ecdsa(h), PublicKey::EcP256(point)) => {
            let alg: &dyn VerificationAlgorithm = match h {
                Hash::Sha256 => &ring_sig::ECDSA_P256_SHA256_ASN1,
                Hash::Sha384 => &ring_sig::ECDSA_P256_SHA384_ASN1,
                Hash::Sha512 => return Err("ECDSA P-256 with SHA-512 is not supported".into()),
            };
            ring_verify(alg, point, message, signature)
        }
        (SigAlg::Ecdsa(h), PublicKey::EcP384(point)) => {
            let alg: &dyn VerificationAlgorithm = match h {
                Hash::Sha256 => &ring_sig::ECDSA_P384_SHA256_ASN1,
                Hash::Sha384 => &ring_sig::ECDSA_P384_SHA384_ASN1,
                Hash::Sha512 => return Err("ECDSA P-384 with SHA-512 is not supported".into()),
            };
            ring_verify(alg, point, message, signature)
        }
        (SigAlg::Ed25519, PublicKey::Ed25519(k)) => {
            ring_verify(&ring_sig::ED25519, k, message, signature)
        }
        (_, PublicKey::Unsupported(what)) => Err(format!("unsupported {what}")),
        (SigAlg::Unsupported, _) => Err("unsupported signature algorithm".into()),
        _ => Err("the signature algorithm does not fit the key".into()),
    }
}

fn ring_verify(
    alg: &'static dyn VerificationAlgorithm,
    key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    UnparsedPublicKey::new(alg, key)
        .verify(message, signature)
        .map_err(|_| "signature does not verify".to_owned())
}

fn rsa_verify(
    der: &[u8],
    hash: Hash,
    pss: bool,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let key = rsa::PublicKey::from_pkcs1_der(der).map_err(|e| format!("RSA key: {e}"))?;
    let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(format!(
            "{bits}-bit RSA keys are not accepted (Go accepts {RSA_MIN_BITS} to {RSA_MAX_BITS})"
        ));
    }
    let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|e| e.to_string());
    let bad = |_| "signature does not verify".to_owned();
    use sha2::{Sha256, Sha384, Sha512};
    macro_rules! check {
        ($d:ty) => {
            if pss {
                let sig = rsa::pss::Signature::try_from(signature).map_err(|e| e.to_string())?;
                rsa::pss::VerifyingKey::<$d>::new(key)
                    .verify(message, &sig)
                    .map_err(bad)
            } else {
                rsa::pkcs1v15::VerifyingKey::<$d>::new(key)
                    .verify(message, &sig?)
                    .map_err(bad)
            }
        };
    }
    match hash {
        Hash::Sha256 => check!(Sha256),
        Hash::Sha384 => check!(Sha384),
        Hash::Sha512 => check!(Sha512),
    }
}
