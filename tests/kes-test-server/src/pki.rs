//! Test certificates: a CA and a server certificate for localhost/127.0.0.1.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TestCa {
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: PrivateKeyDer<'static>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        TestCa::with_key(name, KeyPair::generate().expect("CA key"))
    }

    /// A CA with the same name and key as before: certificates it signs
    /// chain to the CA certificate clients already pinned (a KES restart in
    /// the system tests keeps its trust).
    pub fn from_key_pem(name: &str, key_pem: &str) -> TestCa {
        TestCa::with_key(name, KeyPair::from_pem(key_pem).expect("CA key PEM"))
    }

    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    fn with_key(name: &str, key: KeyPair) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA cert");
        TestCa {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server_cert(&self, names: &[&str]) -> ServerCert {
        self.server_cert_with(names, |_| {})
    }

    /// A server certificate for `names` that expires `days` from now (as
    /// `kes identity new`'s 30-day certificates do); returns it and its
    /// NotAfter (Unix seconds).
    pub fn server_cert_expiring(&self, names: &[&str], days: i64) -> (ServerCert, i64) {
        let not_after = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("a second")
            + time::Duration::days(days);
        let cert = self.server_cert_with(names, |p| {
            p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
            p.not_after = not_after;
        });
        (cert, not_after.unix_timestamp())
    }

    fn server_cert_with(
        &self,
        names: &[&str],
        shape: impl FnOnce(&mut CertificateParams),
    ) -> ServerCert {
        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        shape(&mut params);
        params
            .distinguished_name
            .push(DnType::CommonName, "kes-test-server");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}
