//! A plain KES client for the facts tests: mTLS with a self-signed Ed25519
//! certificate (as an API key makes one), raw answers, TLS alerts visible.

use std::sync::Arc;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, PKCS_ED25519};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Server, TestCa};

/// A client identity: certificate, key and the identity KES derives.
pub struct ClientCert {
    pub cert: CertificateDer<'static>,
    key_der: Vec<u8>,
    pub identity: String,
}

impl ClientCert {
    /// Self-signed, CA:FALSE, with the given extended key usages.
    pub fn self_signed(ekus: Vec<ExtendedKeyUsagePurpose>) -> ClientCert {
        let key = KeyPair::generate_for(&PKCS_ED25519).expect("Ed25519 key");
        let identity = crate::hex(
            ring::digest::digest(
                &ring::digest::SHA256,
                &rcgen::PublicKeyData::subject_public_key_info(&key),
            )
            .as_ref(),
        );
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, &identity);
        params.extended_key_usages = ekus;
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        let cert = params.self_signed(&key).expect("certificate");
        ClientCert {
            cert: cert.der().clone(),
            key_der: key.serialize_der(),
            identity,
        }
    }

    pub fn api_key_like() -> ClientCert {
        ClientCert::self_signed(vec![ExtendedKeyUsagePurpose::ClientAuth])
    }
}

/// One answer: status, Content-Type, body, and the ALPN protocol chosen.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn config(ca: &TestCa, cert: Option<&ClientCert>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let der =
        <CertificateDer as rustls::pki_types::pem::PemObject>::from_pem_slice(ca.ca_pem.as_bytes())
            .expect("CA PEM");
    roots.add(der).expect("CA");
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match cert {
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.cert.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
            )
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// `method path` over HTTP/1.1 (one connection each); `Err` with the TLS
/// or I/O error when the server refuses us.
pub fn request(
    server: &Server,
    ca: &TestCa,
    cert: Option<&ClientCert>,
    method: &str,
    path: &str,
    body: &str,
) -> Result<Answer, String> {
    block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(config(ca, cert, &[b"http/1.1"]));
        let name = ServerName::try_from("localhost").expect("name");
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        tls.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        parse(&raw)
    })
}

/// The ALPN protocol the server picks when offered h2 and http/1.1.
pub fn alpn(server: &Server, ca: &TestCa, cert: &ClientCert) -> Option<Vec<u8>> {
    block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.ok()?;
        let connector =
            tokio_rustls::TlsConnector::from(config(ca, Some(cert), &[b"h2", b"http/1.1"]));
        let tls = connector
            .connect(ServerName::try_from("localhost").ok()?, tcp)
            .await
            .ok()?;
        tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
    })
}

fn parse(raw: &[u8]) -> Result<Answer, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP head")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let mut content_type = None;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-type" => content_type = Some(v.trim().to_owned()),
                "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
    }
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body);
    }
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[i + 2 + size + 2..];
    }
    out
}
