//! A certificate reduced to the fields Go's crypto/x509 looks at when it
//! verifies a server (what MinIO decides with), parsed once and owned.

use std::net::IpAddr;

use x509_parser::extensions::{GeneralName, ParsedExtension, X509Extension};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Extensions Go's parser understands; any other one marked critical makes
/// Go refuse the certificate ("unhandled critical extension").
const HANDLED: [&str; 13] = [
    "2.5.29.14",         // subject key identifier
    "2.5.29.15",         // key usage
    "2.5.29.17",         // subject alternative name
    "2.5.29.19",         // basic constraints
    "2.5.29.30",         // name constraints (DNS and IP; see below)
    "2.5.29.31",         // CRL distribution points
    "2.5.29.32",         // certificate policies
    "2.5.29.33",         // policy mappings
    "2.5.29.35",         // authority key identifier
    "2.5.29.36",         // policy constraints
    "2.5.29.37",         // extended key usage
    "2.5.29.54",         // inhibit anyPolicy
    "1.3.6.1.5.5.7.1.1", // authority information access
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// How a certificate is signed. SHA-1 and MD5 are refused, as Go does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SigAlg {
    RsaPkcs1(Hash),
    RsaPss(Hash),
    Ecdsa(Hash),
    Ed25519,
    /// Named by its OID, for the message.
    Unsupported,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// PKCS#1 RSAPublicKey DER.
    Rsa(Vec<u8>),
    EcP256(Vec<u8>),
    EcP384(Vec<u8>),
    Ed25519(Vec<u8>),
    Unsupported(String),
}

#[derive(Clone, Debug, Default)]
pub(crate) struct NameConstraints {
    pub permitted_dns: Vec<String>,
    pub excluded_dns: Vec<String>,
    /// (address, mask) pairs.
    pub permitted_ip: Vec<(Vec<u8>, Vec<u8>)>,
    pub excluded_ip: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Eku {
    ServerAuth,
    Any,
    Other,
}

#[derive(Clone, Debug)]
pub(crate) struct Cert {
    pub der: Vec<u8>,
    pub tbs: Vec<u8>,
    pub sig_alg: SigAlg,
    pub sig_alg_oid: String,
    pub signature: Vec<u8>,
    pub subject: Vec<u8>,
    pub issuer: Vec<u8>,
    pub subject_text: String,
    pub key: PublicKey,
    /// 1 or 3 (X.509 v1 … v3).
    pub version: u32,
    pub not_before: i64,
    pub not_after: i64,
    /// `Some((is_ca, max_path_len))` when basic constraints are present.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// `Some(key_cert_sign)` when a key usage extension is present.
    pub key_usage_cert_sign: Option<bool>,
    /// Empty when the certificate names no extended key usage.
    pub eku: Vec<Eku>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub name_constraints: Option<NameConstraints>,
    pub unhandled_critical: Option<String>,
}

impl Cert {
    pub(crate) fn parse(der: &[u8]) -> Result<Cert, String> {
        let (rest, x) = X509Certificate::from_der(der).map_err(|e| format!("x509: {e}"))?;
        if !rest.is_empty() {
            return Err("x509: trailing data after the certificate".into());
        }
        let tbs = &x.tbs_certificate;
        let sig_alg_oid = x.signature_algorithm.algorithm.to_id_string();
        let mut cert = Cert {
            der: der.to_vec(),
            tbs: tbs.as_ref().to_vec(),
            sig_alg: sig_alg(&x),
            sig_alg_oid,
            signature: x.signature_value.data.to_vec(),
            subject: tbs.subject.as_raw().to_vec(),
            issuer: tbs.issuer.as_raw().to_vec(),
            subject_text: tbs.subject.to_string(),
            key: public_key(&x),
            version: tbs.version.0 + 1,
            not_before: tbs.validity.not_before.timestamp(),
            not_after: tbs.validity.not_after.timestamp(),
            basic_constraints: None,
            key_usage_cert_sign: None,
            eku: Vec::new(),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            name_constraints: None,
            unhandled_critical: None,
        };
        for ext in tbs.extensions() {
            cert.extension(ext)?;
        }
        Ok(cert)
    }

    /// One extension, as Go's crypto/x509 takes it; the first critical
    /// one Go would not handle is remembered (Go refuses the chain).
    fn extension(&mut self, ext: &X509Extension<'_>) -> Result<(), String> {
        let oid = ext.oid.to_id_string();
        let mut handled = HANDLED.contains(&oid.as_str());
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => {
                self.basic_constraints = Some((bc.ca, bc.path_len_constraint));
            }
            ParsedExtension::KeyUsage(ku) => self.key_usage_cert_sign = Some(ku.key_cert_sign()),
            ParsedExtension::ExtendedKeyUsage(eku) => {
                if eku.server_auth {
                    self.eku.push(Eku::ServerAuth);
                }
                if eku.any {
                    self.eku.push(Eku::Any);
                }
                let others = usize::from(eku.client_auth)
                    + usize::from(eku.code_signing)
                    + usize::from(eku.email_protection)
                    + usize::from(eku.time_stamping)
                    + usize::from(eku.ocsp_signing)
                    + eku.other.len();
                self.eku.extend(std::iter::repeat_n(Eku::Other, others));
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => self.dns_names.push((*d).to_owned()),
                        GeneralName::IPAddress(b) => {
                            if let Some(ip) = ip_from(b) {
                                self.ip_addresses.push(ip);
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::NameConstraints(nc) => {
                let (c, unsupported) = name_constraints(nc);
                // Go enforces DNS, IP, e-mail and URI constraints and
                // refuses other kinds when the extension is critical.
                handled = !unsupported;
                self.name_constraints = Some(c);
            }
            ParsedExtension::ParseError { error } => {
                return Err(format!("x509: cannot parse extension {oid}: {error}"));
            }
            _ => {}
        }
        if ext.critical && !handled && self.unhandled_critical.is_none() {
            self.unhandled_critical = Some(oid);
        }
        Ok(())
    }
}

fn hash_of(oid: &str) -> Option<Hash> {
    match oid {
        "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
        "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
        "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
        _ => None,
    }
}

fn sig_alg(x: &X509Certificate) -> SigAlg {
    match x.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.11" => SigAlg::RsaPkcs1(Hash::Sha256),
        "1.2.840.113549.1.1.12" => SigAlg::RsaPkcs1(Hash::Sha384),
        "1.2.840.113549.1.1.13" => SigAlg::RsaPkcs1(Hash::Sha512),
        "1.2.840.10045.4.3.2" => SigAlg::Ecdsa(Hash::Sha256),
        "1.2.840.10045.4.3.3" => SigAlg::Ecdsa(Hash::Sha384),
        "1.2.840.10045.4.3.4" => SigAlg::Ecdsa(Hash::Sha512),
        "1.3.101.112" => SigAlg::Ed25519,
        "1.2.840.113549.1.1.10" => pss_hash(x).map_or(SigAlg::Unsupported, SigAlg::RsaPss),
        _ => SigAlg::Unsupported,
    }
}

/// RSASSA-PSS parameters as Go accepts them: SHA-256/384/512 for both the
/// message and MGF1, salt as long as the hash.
fn pss_hash(x: &X509Certificate) -> Option<Hash> {
    use x509_parser::signature_algorithm::SignatureAlgorithm;
    let Ok(SignatureAlgorithm::RSASSA_PSS(params)) =
        SignatureAlgorithm::try_from(&x.signature_algorithm)
    else {
        return None;
    };
    let hash = hash_of(&params.hash_algorithm_oid().to_id_string())?;
    let mgf = params.mask_gen_algorithm().ok()?;
    let salt = params.salt_length() as usize;
    let len = match hash {
        Hash::Sha256 => 32,
        Hash::Sha384 => 48,
        Hash::Sha512 => 64,
    };
    (hash_of(&mgf.hash.to_id_string()) == Some(hash) && salt == len).then_some(hash)
}

fn public_key(x: &X509Certificate) -> PublicKey {
    let spki = x.public_key();
    let bits = spki.subject_public_key.data.to_vec();
    let param_oid = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    match spki.algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.1" => PublicKey::Rsa(bits),
        "1.2.840.10045.2.1" => match param_oid.as_deref() {
            Some("1.2.840.10045.3.1.7") => PublicKey::EcP256(bits),
            Some("1.3.132.0.34") => PublicKey::EcP384(bits),
            other => PublicKey::Unsupported(format!("ECDSA curve {}", other.unwrap_or("?"))),
        },
        "1.3.101.112" => PublicKey::Ed25519(bits),
        other => PublicKey::Unsupported(format!("key algorithm {other}")),
    }
}

fn ip_from(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// The DNS and IP subtrees, and whether any other kind was present.
fn name_constraints(nc: &x509_parser::extensions::NameConstraints) -> (NameConstraints, bool) {
    let mut out = NameConstraints::default();
    let mut unsupported = false;
    let mut take = |trees: &Option<Vec<x509_parser::extensions::GeneralSubtree>>,
                    dns: &mut Vec<String>,
                    ip: &mut Vec<(Vec<u8>, Vec<u8>)>| {
        for t in trees.iter().flatten() {
            match &t.base {
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(b) if b.len() == 8 || b.len() == 32 => {
                    let (addr, mask) = b.split_at(b.len() / 2);
                    ip.push((addr.to_vec(), mask.to_vec()));
                }
                // Go checks these against the leaf's e-mail and URI names,
                // which a KES server certificate does not carry.
                GeneralName::RFC822Name(_) | GeneralName::URI(_) => {}
                _ => unsupported = true,
            }
        }
    };
    take(
        &nc.permitted_subtrees,
        &mut out.permitted_dns,
        &mut out.permitted_ip,
    );
    take(
        &nc.excluded_subtrees,
        &mut out.excluded_dns,
        &mut out.excluded_ip,
    );
    (out, unsupported)
}
