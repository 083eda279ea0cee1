//! Stage 3, keys: make sure keys exist on KES. Create with POST (every KES
//! generation accepts it); "key already exists" in either KES wording is
//! success, so N hosts creating the same key at once all succeed.

use std::time::Duration;

use reqwest::Method;

use crate::config::{Endpoint, KesSettings};
use crate::kes::client::{KesClient, TransportError};
use crate::kes::keyname::KeyName;
use crate::kes::policy::policy_yaml;
use crate::logging::ids;

const ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutcome {
    Created,
    Existed,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "KES {endpoint} refused identity {identity} to create key {key} (HTTP 403: {message})\n  fix: allow /v1/key/create/{key} for this identity in KES's policy and restart KES:\n{policy}"
    )]
    Forbidden {
        endpoint: Endpoint,
        key: KeyName,
        identity: String,
        message: String,
        policy: String,
    },
    #[error("KES {endpoint} rejected creating key {key}: HTTP {status}: {message}\n  fix: {fix}")]
    Rejected {
        endpoint: Endpoint,
        key: KeyName,
        status: u16,
        message: String,
        fix: String,
    },
    #[error(
        "KES {endpoint} could not create key {key} after {ATTEMPTS} attempts: {last}\n  fix: check KES's log and its key store; kesgate.service retries on its next start"
    )]
    Unavailable {
        endpoint: Endpoint,
        key: KeyName,
        last: String,
    },
}

/// Creates `key` unless it exists, retrying transient failures a few times.
pub async fn ensure(
    client: &KesClient,
    kes: &KesSettings,
    endpoint: &Endpoint,
    key: &KeyName,
) -> Result<KeyOutcome, KeyError> {
    let path = format!("/v1/key/create/{key}");
    let mut delay = Duration::from_millis(100);
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match client.request(Method::POST, endpoint, &path).await {
            Ok(r) if r.status == 200 => {
                tracing::info!(message_id = ids::KEY_CREATED, kesgate_endpoint = %endpoint, kesgate_key = %key, "created key {key} on KES {endpoint}");
                return Ok(KeyOutcome::Created);
            }
            Ok(r) if r.status == 400 && is_exists(&r.message()) => {
                tracing::info!(message_id = ids::KEY_EXISTS, kesgate_endpoint = %endpoint, kesgate_key = %key, "key {key} already exists on KES {endpoint}");
                return Ok(KeyOutcome::Existed);
            }
            // A policy denial (KES ≤ v0.17 words it "prohibited by policy").
            Ok(r) if r.status == 403 => {
                let identity = kes
                    .identity()
                    .map_or_else(|| "<identity of cert_file>".to_owned(), |i| i.to_string());
                return Err(KeyError::Forbidden {
                    endpoint: endpoint.clone(),
                    key: key.clone(),
                    policy: policy_yaml("minio", &identity),
                    identity,
                    message: r.message(),
                });
            }
            Ok(r) if r.status >= 500 || r.status == 429 => {
                last = format!("HTTP {}: {}", r.status, r.message())
            }
            Ok(r) => {
                let fix = match r.status {
                    405 => "this KES server expects another method for /v1/key/create/ (see its Accept header); report it to kesgate".to_owned(),
                    _ => "check the key name against KES's rules and KES's log".to_owned(),
                };
                return Err(KeyError::Rejected {
                    endpoint: endpoint.clone(),
                    key: key.clone(),
                    status: r.status,
                    message: r.message(),
                    fix,
                });
            }
            Err(TransportError::Unreachable(d) | TransportError::CertificateTime(d)) => last = d,
            Err(e) => last = format!("{e:?}"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    Err(KeyError::Unavailable {
        endpoint: endpoint.clone(),
        key: key.clone(),
        last,
    })
}

/// Both wordings KES has used for an existing key.
fn is_exists(message: &str) -> bool {
    message == "key already exists" || message == "key does already exist"
}
