//! One readiness probe of one KES endpoint, across the three API generations:
//! `/v1/ready` (2023-05+), else `/v1/status` key-store fields, else (2023-02
//! without them) a describe of the default key, whose 200 or 404 proves the
//! key store answered. A 2023-02 server answers `/v1/ready` with 501
//! text/plain before any authorisation: "no such route", like a 404.

use crate::config::Endpoint;
use crate::kes::client::{KesClient, Response, TransportError};
use crate::kes::keyname::KeyName;

/// What kesgate learned about an endpoint's API, kept between probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Unknown,
    /// Answers `/v1/ready` (KES 2023-05 and later).
    Ready,
    /// No `/v1/ready` (KES 2023-02): status fields or describe instead.
    Legacy,
}

/// A state that may heal by waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotReady {
    pub kind: Kind,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Unreachable,
    KeyStoreUnreachable,
    KeyStoreUnavailable,
    ServerError,
    CertificateTime,
    LocalLimit,
}

impl Kind {
    /// Value of the KESGATE_ERROR_KIND journal field.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unreachable => "unreachable",
            Kind::KeyStoreUnreachable => "keystore_unreachable",
            Kind::KeyStoreUnavailable => "keystore_unavailable",
            Kind::ServerError => "server_error",
            Kind::CertificateTime => "certificate_time",
            Kind::LocalLimit => "local_limit",
        }
    }

    /// Short words for STATUS= and the journal.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Unreachable => "not reachable",
            Kind::KeyStoreUnreachable => "key store unreachable (sealed?)",
            Kind::KeyStoreUnavailable => "key store unavailable",
            Kind::ServerError => "server error",
            Kind::CertificateTime => "server certificate not valid now (clock not synced yet?)",
            Kind::LocalLimit => "kesgate cannot open a connection (too many open files)",
        }
    }
}

/// A state waiting cannot fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permanent {
    /// 403: our identity is unknown to KES or its policy denies `path`.
    Forbidden {
        path: String,
        message: String,
    },
    Untrusted(String),
    ClientCertRejected(String),
    Protocol(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ready { via: &'static str },
    NotReady(NotReady),
    Failed(Permanent),
}

pub async fn probe(
    client: &KesClient,
    endpoint: &Endpoint,
    api: &mut Api,
    key: &KeyName,
) -> Outcome {
    if *api != Api::Legacy {
        let resp = match client.get(endpoint, "/v1/ready").await {
            Ok(r) => r,
            Err(e) => return transport(e),
        };
        match resp.status {
            200 => {
                *api = Api::Ready;
                return Outcome::Ready { via: "/v1/ready" };
            }
            // 501: 2023-02's router for a route it lacks; 404/405 from
            // anything else that lacks it.
            404 | 405 | 501 => *api = Api::Legacy,
            504 => return not_ready(Kind::KeyStoreUnreachable, &resp),
            502 => return not_ready(Kind::KeyStoreUnavailable, &resp),
            _ => return http_other("/v1/ready", &resp),
        }
    }
    let resp = match client.get(endpoint, "/v1/status").await {
        Ok(r) => r,
        Err(e) => return transport(e),
    };
    if resp.status != 200 {
        return http_other("/v1/status", &resp);
    }
    match status_keystore(&resp.body) {
        Some(outcome) => outcome,
        None => describe(client, endpoint, key).await,
    }
}

/// The key-store fields of `/v1/status` (2023-05+); `None` when absent
/// (2023-02). Real servers omit false flags: a healthy one sends only
/// `keystore_latency`.
fn status_keystore(body: &[u8]) -> Option<Outcome> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let flag = |name: &str| v.get(name).and_then(serde_json::Value::as_bool);
    let unreachable = flag("keystore_unreachable");
    let unavailable = flag("keystore_unavailable");
    let latency = v.get("keystore_latency").is_some();
    if unreachable == Some(true) {
        return Some(Outcome::NotReady(NotReady {
            kind: Kind::KeyStoreUnreachable,
            detail: "/v1/status reports keystore_unreachable".into(),
        }));
    }
    if unavailable == Some(true) {
        return Some(Outcome::NotReady(NotReady {
            kind: Kind::KeyStoreUnavailable,
            detail: "/v1/status reports keystore_unavailable".into(),
        }));
    }
    (latency || unreachable.is_some() || unavailable.is_some())
        .then_some(Outcome::Ready { via: "/v1/status" })
}

async fn describe(client: &KesClient, endpoint: &Endpoint, key: &KeyName) -> Outcome {
    let path = format!("/v1/key/describe/{key}");
    match client.get(endpoint, &path).await {
        Err(e) => transport(e),
        Ok(r) if r.status == 200 || r.status == 404 => Outcome::Ready {
            via: "/v1/key/describe",
        },
        Ok(r) => http_other("/v1/key/describe/<default key>", &r),
    }
}

fn not_ready(kind: Kind, resp: &Response) -> Outcome {
    Outcome::NotReady(NotReady {
        kind,
        detail: format!("HTTP {}: {}", resp.status, resp.message()),
    })
}

/// Any other status: 403 is permission, 401/400/405 are protocol mismatches,
/// 5xx and 429 are the server having a bad moment.
fn http_other(path: &str, resp: &Response) -> Outcome {
    let detail = format!("{path}: HTTP {}: {}", resp.status, resp.message());
    match resp.status {
        403 => Outcome::Failed(Permanent::Forbidden {
            path: path.into(),
            message: resp.message(),
        }),
        300..=399 => Outcome::Failed(Permanent::Protocol(format!(
            "{path}: HTTP {} redirect to {}: KES never redirects, so this is not KES (or a proxy in front of it)",
            resp.status,
            resp.location.as_deref().unwrap_or("nowhere")
        ))),
        429 | 500..=599 => Outcome::NotReady(NotReady {
            kind: Kind::ServerError,
            detail,
        }),
        _ => Outcome::Failed(Permanent::Protocol(detail)),
    }
}

fn transport(e: TransportError) -> Outcome {
    match e {
        TransportError::Unreachable(d) => Outcome::NotReady(NotReady {
            kind: Kind::Unreachable,
            detail: d,
        }),
        TransportError::CertificateTime(d) => Outcome::NotReady(NotReady {
            kind: Kind::CertificateTime,
            detail: d,
        }),
        TransportError::Untrusted(d) => Outcome::Failed(Permanent::Untrusted(d)),
        TransportError::ClientCertRejected(d) => Outcome::Failed(Permanent::ClientCertRejected(d)),
        TransportError::Protocol(d) => Outcome::Failed(Permanent::Protocol(d)),
        TransportError::LocalLimit(d) => Outcome::NotReady(NotReady {
            kind: Kind::LocalLimit,
            detail: d,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(body: &str) -> Option<Result<Kind, ()>> {
        status_keystore(body.as_bytes()).map(|o| match o {
            Outcome::Ready { .. } => Err(()),
            Outcome::NotReady(n) => Ok(n.kind),
            Outcome::Failed(_) => panic!("status fields are never permanent"),
        })
    }

    #[test]
    fn status_fields_of_each_generation() {
        // 2023-02: no key-store fields → fall through to describe.
        assert_eq!(kind(r#"{"version":"v","uptime":1000}"#), None);
        // 2023-05: both flags.
        assert_eq!(
            kind(r#"{"keystore_unavailable":false,"keystore_unreachable":false}"#),
            Some(Err(()))
        );
        assert_eq!(
            kind(r#"{"keystore_unavailable":true,"keystore_unreachable":false}"#),
            Some(Ok(Kind::KeyStoreUnavailable))
        );
        // As real servers send them: false flags omitted.
        assert_eq!(
            kind(r#"{"version":"2023-05-02T22-48-10Z","keystore_latency":1}"#),
            Some(Err(()))
        );
        assert_eq!(
            kind(r#"{"keystore_unavailable":true}"#),
            Some(Ok(Kind::KeyStoreUnavailable))
        );
        // 2024+: only keystore_unreachable, latency omitted when unreachable.
        assert_eq!(
            kind(r#"{"keystore_latency":1,"keystore_unreachable":false}"#),
            Some(Err(()))
        );
        assert_eq!(
            kind(r#"{"keystore_unreachable":true}"#),
            Some(Ok(Kind::KeyStoreUnreachable))
        );
        // Not JSON at all: treated as "no fields", describe decides.
        assert_eq!(kind("<html>"), None);
    }
}
