//! One readiness probe of one KES endpoint, across the three API
//! generations. Ready takes two answers:
//!
//! 1. the generation's own signal: `/v1/ready` (2023-05+); a 2023-02 server
//!    answers it with 501 text/plain before any authorisation ("no such
//!    route"), and then has no other signal of its own;
//! 2. the fresh probe: a describe of a key nobody creates
//!    ([`KeyName::absent_probe`]). KES can serve neither it from its key
//!    cache (a cached key answers 200 for minutes after a seal, and a client
//!    polling it keeps it there) nor without authorising us (`/v1/ready` may
//!    be `skip_auth`): 404 proves "KES, the store answered, for us, now",
//!    502/504 is the store not serving (sealed, or KES not yet past its
//!    health check after an unseal). docs/facts.md, "KES releases".
//!
//! A policy may allow describe of the exact default key only: then a 403 on
//! the probe proves nothing, and readiness falls back to describe of the
//! default key (a 404 is fresh, a 200 may be cached), then to generate with
//! it (MinIO's own start-up call) — ready, but with freshness unproven and
//! the policy line that would prove it.

use crate::config::Endpoint;
use crate::kes_types::keyname::KeyName;
use crate::peers::kes::client::{KesClient, Response, TransportError};

/// What kesgate learned about an endpoint's API, kept between probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    Unknown,
    /// Answers `/v1/ready` (KES 2023-05 and later).
    Ready,
    /// No `/v1/ready` (KES 2023-02): the fresh probe alone.
    Legacy,
}

/// A state that may heal by waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NotReady {
    pub kind: Kind,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Unreachable,
    KeyStoreUnreachable,
    KeyStoreUnavailable,
    ServerError,
    CertificateTime,
    LocalLimit,
}

impl Kind {
    /// Value of the KESGATE_ERROR_KIND journal field.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Unreachable => "unreachable",
            Kind::KeyStoreUnreachable => "keystore_unreachable",
            Kind::KeyStoreUnavailable => "keystore_unavailable",
            Kind::ServerError => "server_error",
            Kind::CertificateTime => "certificate_time",
            Kind::LocalLimit => "local_limit",
        }
    }

    /// The kind a stable name names (`status --json`'s `condition`).
    pub(crate) fn from_name(name: &str) -> Option<Kind> {
        [
            Kind::Unreachable,
            Kind::KeyStoreUnreachable,
            Kind::KeyStoreUnavailable,
            Kind::ServerError,
            Kind::CertificateTime,
            Kind::LocalLimit,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// What fixes it, where nothing is known of KES's Vault (with
    /// `[vault]`, crate::stages::wait::diagnosis says more).
    pub(crate) fn fix(self) -> &'static str {
        match self {
            Kind::Unreachable => {
                "start KES (`journalctl -u kes` says why it stopped); one whose Vault was sealed at its start has exited: unseal the Vault, then restart KES"
            }
            Kind::KeyStoreUnreachable | Kind::KeyStoreUnavailable => {
                "unseal KES's key store (e.g. `bao operator unseal`) or bring it back; KES notices within 10 s"
            }
            Kind::ServerError => "see KES's log (e.g. `journalctl -u kes`)",
            Kind::CertificateTime => "check the clock (`timedatectl`), or renew KES's certificate",
            Kind::LocalLimit => crate::files::FIX_DESCRIPTORS,
        }
    }

    /// Short words for STATUS= and the journal.
    pub(crate) fn describe(self) -> &'static str {
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
pub(crate) enum Permanent {
    /// 403: our identity is unknown to KES or its policy denies `path`.
    Forbidden {
        path: String,
        message: String,
    },
    Untrusted(String),
    ClientCertRejected(String),
    Protocol(String),
}

impl Permanent {
    /// A stable name for the state (`status --json`'s `condition`, the
    /// watch's memory).
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Permanent::Forbidden { .. } => "forbidden",
            Permanent::Untrusted(_) => "untrusted",
            Permanent::ClientCertRejected(_) => "client_certificate_rejected",
            Permanent::Protocol(_) => "not_kes",
        }
    }
}

/// Why a ready endpoint's key store was not proven to answer now, and the
/// fix that would prove it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unproven {
    pub why: String,
    pub fix: String,
}

impl std::fmt::Display for Unproven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "key store freshness unproven: {}; fix: {}",
            self.why, self.fix
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ready {
        via: &'static str,
        unproven: Option<Unproven>,
    },
    NotReady(NotReady),
    Failed(Permanent),
}

/// The fresh probe's route, as the answers and messages name it.
const FRESH_VIA: &str = "/v1/key/describe of an absent key";

pub(crate) async fn probe(
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
            200 => *api = Api::Ready,
            // 501: 2023-02's router for a route it lacks; 404/405 from
            // anything else that lacks it.
            404 | 405 | 501 => *api = Api::Legacy,
            504 => return not_ready(Kind::KeyStoreUnreachable, "/v1/ready", &resp),
            502 => return not_ready(Kind::KeyStoreUnavailable, "/v1/ready", &resp),
            _ => return http_other("/v1/ready", &resp),
        }
    }
    fresh(client, endpoint, key).await
}

/// The fresh probe, then the fallbacks a narrow policy leaves.
async fn fresh(client: &KesClient, endpoint: &Endpoint, key: &KeyName) -> Outcome {
    let absent = key.absent_probe();
    let path = format!("/v1/key/describe/{absent}");
    let resp = match client.get(endpoint, &path).await {
        Ok(r) => r,
        Err(e) => return transport(e),
    };
    match resp.status {
        404 => absent_404(&path, &resp, FRESH_VIA),
        // Someone created a key by that name: KES may answer it from its
        // cache. It still proves KES authorises us.
        200 => match described(&resp, &absent) {
            true => Outcome::Ready {
                via: FRESH_VIA,
                unproven: Some(Unproven {
                    why: format!(
                        "a key named {absent} exists, so KES may answer it from its key cache"
                    ),
                    fix: format!(
                        "delete key {absent} on KES (kesgate never creates it; it must not exist)"
                    ),
                }),
            },
            false => not_kes(&path, &resp),
        },
        403 => fallback(client, endpoint, key, &absent).await,
        502 | 504 => not_ready(Kind::KeyStoreUnreachable, &path, &resp),
        _ => http_other(&path, &resp),
    }
}

/// A 403 on the fresh probe: the policy does not grant describe of the
/// probe's name. Describe of the default key (MinIO's keep-alive), then
/// generate with it (MinIO's start-up call) prove authorisation; only a 404
/// (absence is never cached) proves freshness.
async fn fallback(
    client: &KesClient,
    endpoint: &Endpoint,
    key: &KeyName,
    absent: &KeyName,
) -> Outcome {
    let unproven = |via: &str| Unproven {
        why: format!(
            "KES's policy does not allow describe of {absent} for this identity, so readiness rests on {via}, which KES may answer from its key cache for minutes after its key store sealed"
        ),
        fix: format!(
            "add `/v1/key/describe/{absent}` to the allow list of this identity's KES policy and restart KES"
        ),
    };
    let describe = format!("/v1/key/describe/{key}");
    let resp = match client.get(endpoint, &describe).await {
        Ok(r) => r,
        Err(e) => return transport(e),
    };
    match resp.status {
        404 => return absent_404(&describe, &resp, "/v1/key/describe of the default key"),
        200 if described(&resp, key) => {
            return Outcome::Ready {
                via: "/v1/key/describe of the default key",
                unproven: Some(unproven("the default key")),
            };
        }
        200 => return not_kes(&describe, &resp),
        403 => {}
        502 | 504 => return not_ready(Kind::KeyStoreUnreachable, &describe, &resp),
        _ => return http_other(&describe, &resp),
    }
    // No describe at all: MinIO's own start-up call decides.
    let generate = format!("/v1/key/generate/{key}");
    let body = crate::peers::kes::client::generate_body();
    let resp = match client
        .request_with(reqwest::Method::POST, endpoint, &generate, Some(body))
        .await
    {
        Ok(r) => r,
        Err(e) => return transport(e),
    };
    match resp.status {
        200 => Outcome::Ready {
            via: "/v1/key/generate of the default key",
            unproven: Some(unproven("generate with the default key")),
        },
        404 => absent_404(&generate, &resp, "/v1/key/generate of the default key"),
        502 | 504 => not_ready(Kind::KeyStoreUnreachable, &generate, &resp),
        _ => http_other(&generate, &resp),
    }
}

/// A 404 for a key proves the key store answered (KES caches no absence) —
/// when it is KES's 404: any web server says 404.
fn absent_404(path: &str, resp: &Response, via: &'static str) -> Outcome {
    if resp.message() == "key does not exist" {
        Outcome::Ready {
            via,
            unproven: None,
        }
    } else {
        not_kes(path, resp)
    }
}

/// A describe answer for `name` (2023 sends it as text/plain: the body
/// decides, not the content type).
fn described(resp: &Response, name: &KeyName) -> bool {
    serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("name")?.as_str().map(|n| n == name.as_str()))
        .unwrap_or(false)
}

fn not_kes(path: &str, resp: &Response) -> Outcome {
    Outcome::Failed(Permanent::Protocol(format!(
        "{path}: HTTP {} without KES's answer ({}): KES answers a describe with the key or `key does not exist`",
        resp.status,
        resp.message()
    )))
}

fn not_ready(kind: Kind, path: &str, resp: &Response) -> Outcome {
    Outcome::NotReady(NotReady {
        kind,
        detail: format!("{path}: HTTP {}: {}", resp.status, resp.message()),
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
