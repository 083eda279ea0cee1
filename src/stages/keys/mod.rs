//! Keys: make sure keys exist on KES, and prove the default key
//! works the way MinIO will use it. Create with POST (every KES generation
//! accepts it); "key already exists" in either KES wording is success, so N
//! hosts creating the same key at once all succeed.

mod round_trip;

use std::time::Duration;

use reqwest::Method;

use crate::config::{Endpoint, KesSettings, VaultSettings};
use crate::kes_types::keyname::KeyName;
use crate::kes_types::policy::policy_yaml;
use crate::logging::ids;
use crate::peers::kes::client::{KesClient, Response, TransportError};
use crate::retry::Retry;
pub(crate) use round_trip::{RoundTrip, round_trip};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyOutcome {
    Created,
    Existed,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error(
        "KES {endpoint} refused identity {identity} for {route} (HTTP 403: {message})\n  fix: allow {route} for this identity in KES's policy (MinIO uses the same identity) and restart KES:\n{policy}"
    )]
    Forbidden {
        endpoint: Endpoint,
        route: String,
        identity: String,
        message: String,
        policy: String,
    },
    #[error(
        "KES {endpoint} answered 405 to {method} {route}: this KES server expects {expected} for it, and MinIO sends POST\n  fix: check that the endpoint is a KES server; every KES release accepts POST there"
    )]
    MethodMismatch {
        endpoint: Endpoint,
        method: &'static str,
        route: String,
        expected: String,
    },
    #[error("KES {endpoint} rejected {route}: HTTP {status}: {message}\n  fix: {fix}")]
    Rejected {
        endpoint: Endpoint,
        route: String,
        status: u16,
        message: String,
        fix: String,
    },
    #[error(
        "KES {endpoint} cannot be asked {route}: {detail}\n  fix: check the endpoint, [kes] ca and KES's TLS settings (`kesgate status` shows each link)"
    )]
    Transport {
        endpoint: Endpoint,
        route: String,
        detail: String,
    },
    #[error("KES {endpoint} has no key {key} (HTTP 404 on {route})\n  fix: run `kesgate keys`")]
    NotFound {
        endpoint: Endpoint,
        key: KeyName,
        route: String,
    },
    #[error(
        "KES {endpoint} failed {route} {attempts} times in {}: {last}\n  fix: {fix}",
        humantime::format_duration(*window)
    )]
    Unavailable {
        endpoint: Endpoint,
        route: String,
        attempts: u32,
        window: Duration,
        last: String,
        /// What the caller knows of the key store decides the advice.
        fix: String,
    },
}

impl KeyError {
    /// The KES endpoint the failure is about (KESGATE_ENDPOINT).
    pub(crate) fn endpoint(&self) -> &Endpoint {
        match self {
            KeyError::Forbidden { endpoint, .. }
            | KeyError::MethodMismatch { endpoint, .. }
            | KeyError::Rejected { endpoint, .. }
            | KeyError::Transport { endpoint, .. }
            | KeyError::NotFound { endpoint, .. }
            | KeyError::Unavailable { endpoint, .. } => endpoint,
        }
    }
}

/// Without word from the Vault: what a key store that does not serve keys
/// for the whole window usually means, first the case KES itself causes.
pub(crate) const FIX_UNAVAILABLE: &str = "right after an unseal KES refuses key operations until its next key-store health check (`status: ping` in KES's config, 10s by default): raise [kes] key_retry_window above that interval; otherwise KES answers but its key store cannot serve this key: check KES's log and its key store (Vault/OpenBao policy, mount). kesgate.service retries on its next start";

/// The fix for a key store that did not serve for the whole window, from
/// what its Vault says (`None`: no `[vault]`, or no answer).
pub(crate) fn fix_unavailable(vault: Option<&crate::peers::vault::VaultStatus>) -> String {
    use crate::peers::vault::VaultState;
    let Some(v) = vault else {
        return FIX_UNAVAILABLE.to_owned();
    };
    let said = v.describe();
    match v.state() {
        VaultState::Ok => format!(
            "{said}, so KES has not yet seen it back: KES refuses key operations after an unseal until its next key-store health check (`status: ping` in KES's config, 10s by default); raise [kes] key_retry_window above that interval, or check KES's log"
        ),
        VaultState::Sealed => format!("{said}: unseal it (e.g. `bao operator unseal`)"),
        VaultState::NotInitialized => format!("{said}: initialise and unseal it"),
        VaultState::Standby => format!("{said}: check the Vault cluster's active node"),
        VaultState::Unreachable => format!("{said}: bring the Vault back, then KES reconnects"),
        VaultState::NotVault => {
            format!(
                "{said}: point [vault] address at the Vault KES uses; meanwhile: {FIX_UNAVAILABLE}"
            )
        }
    }
}

/// One KES endpoint as the key stage talks to it: the client with MinIO's
/// identity and trust, the settings, and `[vault]` (whose word decides the
/// advice when the key store does not serve).
pub(crate) struct Session<'a> {
    pub client: &'a KesClient,
    pub kes: &'a KesSettings,
    pub endpoint: &'a Endpoint,
    pub vault: Option<&'a VaultSettings>,
}

impl Session<'_> {
    /// Sends `POST route` (with a JSON body), retrying 5xx/429 and
    /// transport failures for `[kes] key_retry_window`; any other answer
    /// is returned, 403 and 405 as errors.
    async fn call(&self, route: &str, body: Option<Vec<u8>>) -> Result<Response, KeyError> {
        let endpoint = self.endpoint;
        let mut retry = Retry::new(Some(self.kes.key_retry_window), Duration::from_secs(1));
        loop {
            retry.attempt();
            let failed = match self
                .client
                .request_with(Method::POST, endpoint, route, body.clone())
                .await
            {
                // A policy denial (KES ≤ v0.17 words it "prohibited by policy").
                Ok(r) if r.status == 403 => {
                    let identity = self.kes.identity().to_string();
                    return Err(KeyError::Forbidden {
                        endpoint: endpoint.clone(),
                        route: route.to_owned(),
                        policy: policy_yaml("minio", &identity),
                        identity,
                        message: r.message(),
                    });
                }
                Ok(r) if r.status == 405 => {
                    return Err(KeyError::MethodMismatch {
                        endpoint: endpoint.clone(),
                        method: "POST",
                        route: route.to_owned(),
                        expected: r.accept.clone().unwrap_or_else(|| "another method".into()),
                    });
                }
                Ok(r) if r.status >= 500 || r.status == 429 => {
                    format!("HTTP {}: {}", r.status, r.message())
                }
                Ok(r) => return Ok(r),
                Err(
                    TransportError::Unreachable(d)
                    | TransportError::CertificateTime(d)
                    | TransportError::LocalLimit(d),
                ) => d,
                // What waiting cannot change: not KES, not trusted, refused.
                Err(
                    TransportError::Protocol(d)
                    | TransportError::Untrusted(d)
                    | TransportError::ClientCertRejected(d),
                ) => {
                    return Err(KeyError::Transport {
                        endpoint: endpoint.clone(),
                        route: route.to_owned(),
                        detail: d,
                    });
                }
            };
            retry.failed(failed);
            if !retry.pause().await {
                return Err(KeyError::Unavailable {
                    endpoint: endpoint.clone(),
                    route: route.to_owned(),
                    attempts: retry.attempts(),
                    window: self.kes.key_retry_window,
                    last: retry.take_last().unwrap_or_default(),
                    fix: self.fix_unavailable().await,
                });
            }
        }
    }

    /// The advice for a key store that did not serve for the whole window:
    /// from what its Vault says now (`[vault]`), else the usual causes.
    async fn fix_unavailable(&self) -> String {
        let Some(v) = self.vault else {
            return fix_unavailable(None);
        };
        match crate::peers::vault::VaultWatch::connect(v).await {
            Ok(mut watch) => fix_unavailable(Some(&watch.poll().await)),
            Err(_) => fix_unavailable(None),
        }
    }
}

/// Creates `key` unless it exists.
pub(crate) async fn ensure(session: &Session<'_>, key: &KeyName) -> Result<KeyOutcome, KeyError> {
    let endpoint = session.endpoint;
    let route = format!("/v1/key/create/{key}");
    let r = session.call(&route, None).await?;
    if r.status == 200 {
        tracing::info!(message_id = ids::KEY_CREATED, kesgate_endpoint = %endpoint, kesgate_key = %key, "created key {key} on KES {endpoint}");
        return Ok(KeyOutcome::Created);
    }
    if r.status == 400 && is_exists(&r.message()) {
        tracing::info!(message_id = ids::KEY_EXISTS, kesgate_endpoint = %endpoint, kesgate_key = %key, "key {key} already exists on KES {endpoint}");
        return Ok(KeyOutcome::Existed);
    }
    Err(KeyError::Rejected {
        endpoint: endpoint.clone(),
        route,
        status: r.status,
        message: r.message(),
        fix: "check the key name against KES's rules and KES's log".into(),
    })
}

/// What MinIO's own start-up call found (internal/kms `handleKMSConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartUp {
    /// Generate served a data key (after a create, when the key was new).
    Served,
    /// KES refused MinIO's identity: MinIO starts all the same (it
    /// tolerates `ErrPermission`), and cannot encrypt.
    Denied,
}

/// MinIO's decision at start-up, exactly: generate with the default key;
/// on a 404 create it; nil, "exists" and "permission denied" let MinIO
/// start, anything else (unreachable, TLS, 5xx) makes it exit.
pub(crate) async fn minio_start_up(
    session: &Session<'_>,
    key: &KeyName,
) -> Result<StartUp, KeyError> {
    let generate = format!("/v1/key/generate/{key}");
    let body = crate::peers::kes::client::generate_body();
    let r = match session.call(&generate, Some(body)).await {
        Err(KeyError::Forbidden { .. }) => return Ok(StartUp::Denied),
        other => other?,
    };
    match r.status {
        200 => Ok(StartUp::Served),
        404 => match ensure(session, key).await {
            Ok(_) => Ok(StartUp::Served),
            Err(KeyError::Forbidden { .. }) => Ok(StartUp::Denied),
            Err(e) => Err(e),
        },
        status => Err(KeyError::Rejected {
            endpoint: session.endpoint.clone(),
            route: generate,
            status,
            message: r.message(),
            fix: "MinIO exits on this answer at start-up; check KES's log and its key store".into(),
        }),
    }
}

/// MinIO's start-up with the default key: generate (and, on a 404, create
/// the key and generate again), decrypt, compare; then its keep-alive.
pub(crate) async fn as_minio_starts(
    session: &Session<'_>,
    key: &KeyName,
) -> Result<RoundTrip, KeyError> {
    match round_trip(session, key).await {
        Err(KeyError::NotFound { .. }) => {
            ensure(session, key).await?;
            round_trip(session, key).await
        }
        other => other,
    }
}

/// What `kesgate status` learns from MinIO's start-up round trip.
pub(crate) struct Inspected {
    /// "ok", or the sentence and fix the gate would print.
    pub said: String,
    /// Whether the key exists, as the round trip proved it (generate
    /// served, or KES said 404); `None` when it could not tell.
    pub present: Option<bool>,
}

/// `kesgate status`'s view of MinIO's start-up with the default key,
/// read-only (the key is never created).
pub(crate) async fn inspect(session: &Session<'_>, key: &KeyName) -> Inspected {
    match round_trip(session, key).await {
        Ok(RoundTrip {
            describe_denied: Some(route),
        }) => Inspected {
            said: format!(
                "generate/decrypt ok, but KES denies {route} (MinIO's keep-alive every 10 s logs errors); fix: add `- /v1/key/describe/*` to MinIO's policy"
            ),
            present: Some(true),
        },
        Ok(_) => Inspected {
            said: "ok".to_owned(),
            present: Some(true),
        },
        Err(e) => Inspected {
            present: matches!(e, KeyError::NotFound { .. }).then_some(false),
            said: crate::text::headline_and_fix(&e),
        },
    }
}

/// Both wordings KES has used for an existing key.
fn is_exists(message: &str) -> bool {
    message == "key already exists" || message == "key does already exist"
}
