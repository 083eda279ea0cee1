//! An HTTP client for KES: one pooled connection per endpoint (keep-alive
//! across polls), a timeout on every request, bounded bodies, lenient errors.

use std::error::Error as _;
use std::time::Duration;

use reqwest::Method;
use rustls::{AlertDescription, CertificateError};

use super::tls::client_config;
use crate::config::{Endpoint, KesSettings};
use crate::net::tls::{Section, TlsSetupError, TrustPool};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// KES answers with small JSON objects; anything larger is not worth reading.
const BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone)]
pub(crate) struct KesClient {
    http: reqwest::Client,
}

/// A KES answer with its body read (and cut at `BODY_LIMIT`).
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `Accept` header KES sends with a 405: the method it expects.
    pub accept: Option<String>,
    /// 2024+ sends `application/json`, 2023 adds `; charset=utf-8`.
    pub content_type: Option<String>,
    /// Where a 3xx pointed (never followed).
    pub location: Option<String>,
}

impl Response {
    /// KES's error text: the `message` (or kms-go's `error`) field of a JSON
    /// object, else the raw body. 2023 servers build the JSON by string
    /// formatting, so a quote in the text breaks it: fall back to the raw text.
    /// Cut to a few hundred characters and escaped (crate::text): it
    /// reaches the terminal, STATUS= and the journal.
    pub(crate) fn message(&self) -> String {
        crate::text::cut(&self.raw_message())
    }

    fn raw_message(&self) -> String {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&self.body) {
            for field in ["error", "message"] {
                if let Some(serde_json::Value::String(s)) = map.get(field)
                    && !s.is_empty()
                {
                    return s.clone();
                }
            }
        }
        let raw = String::from_utf8_lossy(&self.body).trim().to_owned();
        raw.strip_prefix("{\"message\":\"")
            .and_then(|s| s.strip_suffix("\"}"))
            .map(str::to_owned)
            .unwrap_or(raw)
    }
}

/// Why no HTTP answer came back, sorted by what waiting can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransportError {
    /// Refused, reset, DNS, timeouts: KES is not (yet) there.
    Unreachable(String),
    /// The server's certificate is outside its validity period: a clock not
    /// yet synchronised at boot heals, an expired certificate does not.
    CertificateTime(String),
    /// The server's certificate does not chain to the configured CA or does
    /// not name the host.
    Untrusted(String),
    /// The server refused our client certificate during the handshake.
    ClientCertRejected(String),
    /// Something that is not a KES TLS endpoint answered.
    Protocol(String),
    /// kesgate itself is out of file descriptors (EMFILE/ENFILE): not KES's
    /// fault, and it may pass.
    LocalLimit(String),
}

impl KesClient {
    /// A client that trusts `pool` (what MinIO trusts for KES).
    pub(crate) fn new(
        kes: &KesSettings,
        pool: std::sync::Arc<TrustPool>,
    ) -> Result<KesClient, TlsSetupError> {
        KesClient::via(kes, pool, None)
    }

    /// A client that takes MinIO's path: through `proxy` when MinIO's
    /// environment names one for KES.
    pub(crate) fn via(
        kes: &KesSettings,
        pool: std::sync::Arc<TrustPool>,
        proxy: Option<reqwest::Proxy>,
    ) -> Result<KesClient, TlsSetupError> {
        let tls = client_config(kes, pool)?;
        let http = crate::net::tls::http_client_via(
            Section::Kes,
            tls,
            CONNECT_TIMEOUT,
            REQUEST_TIMEOUT,
            proxy,
        )?;
        Ok(KesClient { http })
    }

    pub(crate) async fn request(
        &self,
        method: Method,
        endpoint: &Endpoint,
        path: &str,
    ) -> Result<Response, TransportError> {
        self.request_with(method, endpoint, path, None).await
    }

    /// A request with a JSON body.
    pub(crate) async fn request_with(
        &self,
        method: Method,
        endpoint: &Endpoint,
        path: &str,
        json: Option<Vec<u8>>,
    ) -> Result<Response, TransportError> {
        let url = endpoint
            .url()
            .join(path)
            .map_err(|e| TransportError::Protocol(e.to_string()))?;
        let mut request = self.http.request(method, url);
        if let Some(body) = json {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let mut resp = request.send().await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (accept, content_type) = (header("accept"), header("content-type"));
        let location = header("location").map(|l| crate::text::cut(&l));
        let body = crate::net::tls::body_capped(&mut resp, BODY_LIMIT)
            .await
            .map_err(|e| classify(&e))?;
        Ok(Response {
            status,
            body,
            accept,
            content_type,
            location,
        })
    }

    pub(crate) async fn get(
        &self,
        endpoint: &Endpoint,
        path: &str,
    ) -> Result<Response, TransportError> {
        self.request(Method::GET, endpoint, path).await
    }
}

/// Finds the rustls error inside reqwest's error chain. tokio-rustls and
/// hyper wrap it in (nested) io::Errors, whose `source()` skips the inner
/// error, so dig through those by hand.
fn rustls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    causes(e).find_map(|c| c.downcast_ref::<rustls::Error>())
}

/// A reqwest error as one line of its causes, without repeats (and without
/// reqwest's top line, which repeats the URL the caller already names).
pub(crate) fn chain_text(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut next = e.source();
    while let Some(err) = next {
        // A TLS failure in words, never rustls's debug shapes.
        let text = match rustls_in(err) {
            Some(tls) => crate::net::tls::describe(tls),
            None => err.to_string(),
        };
        // hyper's "client error (Connect)" says nothing the cause doesn't.
        if !text.starts_with("client error (") && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    // reqwest's own top line repeats the URL; the endpoint is reported by the caller.
    parts.remove(0);
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// The rustls error `err` is, or wraps (tokio-rustls puts it in an
/// io::Error).
fn rustls_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut inner = err;
    loop {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        inner = inner.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

fn classify(e: &reqwest::Error) -> TransportError {
    let text = chain_text(e);
    if let Some(tls) = rustls_error(e) {
        return classify_tls(tls, text);
    }
    if causes(e).any(|c| {
        c.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_parse() || h.is_parse_status())
    }) {
        return TransportError::Protocol(format!("not an HTTP answer KES would give ({text})"));
    }
    if causes(e).any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(crate::files::regular::out_of_descriptors)
    }) {
        return TransportError::LocalLimit(text);
    }
    TransportError::Unreachable(text)
}

/// The TLS failures: which heal by waiting, which never will.
fn classify_tls(tls: &rustls::Error, text: String) -> TransportError {
    match tls {
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => TransportError::CertificateTime(text),
        rustls::Error::InvalidCertificate(_) => TransportError::Untrusted(text),
        rustls::Error::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateUnknown,
        ) => TransportError::ClientCertRejected(text),
        // No common protocol version or cipher suite, or a peer that does
        // not speak TLS as KES does: no retry changes that.
        rustls::Error::AlertReceived(
            AlertDescription::HandshakeFailure
            | AlertDescription::ProtocolVersion
            | AlertDescription::InsufficientSecurity
            | AlertDescription::IllegalParameter
            | AlertDescription::DecodeError
            | AlertDescription::UnexpectedMessage
            | AlertDescription::NoApplicationProtocol,
        )
        | rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::PeerIncompatible(_)
        | rustls::Error::PeerMisbehaved(_) => TransportError::Protocol(format!(
            "the TLS handshake failed ({text}): KES speaks TLS 1.2 or 1.3 with current cipher suites, so this is not KES (or a proxy in front of it)"
        )),
        _ => TransportError::Unreachable(text),
    }
}

/// Every error in the chain, including those wrapped in io::Errors (whose
/// `source()` skips the inner error).
fn causes<'a>(
    e: &'a reqwest::Error,
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> + 'a {
    let mut out: Vec<&'a (dyn std::error::Error + 'static)> = Vec::new();
    let mut next: Option<&'a (dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = next {
        let mut inner = err;
        out.push(inner);
        while let Some(wrapped) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            inner = wrapped;
            out.push(inner);
        }
        next = err.source();
    }
    out.into_iter()
}

/// The associated context kesgate binds to every data key it asks for, as
/// MinIO binds one: base64, as KES's JSON takes it.
pub(crate) fn readiness_context() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode("kesgate readiness check")
}

/// The body of `POST /v1/key/generate/<key>` with that context.
pub(crate) fn generate_body() -> Vec<u8> {
    serde_json::json!({ "context": readiness_context() })
        .to_string()
        .into_bytes()
}
