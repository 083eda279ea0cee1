//! The round trip MinIO makes at start-up, with MinIO's identity: generate a
//! data key with the default key, decrypt its ciphertext, compare. /v1/ready
//! cannot see a policy without generate/decrypt or a key store that answers
//! but cannot serve keys; this can. The plaintext is never logged or kept.
//! Like MinIO, generate comes first: a key that works needs no create
//! permission; a 404 is `KeyError::NotFound`, for the caller to create it.
//! Last, a describe of the key, MinIO's keep-alive every 10 s: a 403 there
//! does not stop MinIO, so it is a warning for the caller to tell.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{KeyError, Session};
use crate::config::Endpoint;
use crate::kes_types::keyname::KeyName;
use crate::peers::kes::client::KesClient;
use crate::secret::Secret;

/// KES's data keys are 256-bit.
const DATA_KEY_LEN: usize = 32;

fn field(body: &[u8], name: &str) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    STANDARD.decode(v.get(name)?.as_str()?).ok()
}

/// What the round trip found that does not stop MinIO.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RoundTrip {
    /// The describe route MinIO's keep-alive calls, when KES refused it.
    pub describe_denied: Option<String>,
}

pub(crate) async fn round_trip(
    session: &Session<'_>,
    key: &KeyName,
) -> Result<RoundTrip, KeyError> {
    let (client, endpoint) = (session.client, session.endpoint);
    let context = crate::peers::kes::client::readiness_context();
    let generate = format!("/v1/key/generate/{key}");
    let body = crate::peers::kes::client::generate_body();
    let r = session.call(&generate, Some(body)).await?;
    if r.status == 404 {
        return Err(KeyError::NotFound {
            endpoint: endpoint.clone(),
            key: key.clone(),
            route: generate,
        });
    }
    let rejected = |route: &str, status: u16, message: String, fix: &str| KeyError::Rejected {
        endpoint: endpoint.clone(),
        route: route.to_owned(),
        status,
        message,
        fix: fix.to_owned(),
    };
    // A data key is 32 bytes and its ciphertext is not empty: anything
    // else did not come from KES (MinIO would encrypt with it).
    let fields = match r.status {
        200 => (
            field(&r.body, "plaintext").filter(|p| p.len() == DATA_KEY_LEN),
            field(&r.body, "ciphertext").filter(|c| !c.is_empty()),
        ),
        _ => (None, None),
    };
    let (Some(plaintext), Some(ciphertext)) = fields else {
        return Err(rejected(
            &generate,
            r.status,
            r.message(),
            "the key must exist (`kesgate keys`) and KES must answer generate with a data key",
        ));
    };
    let plaintext = Secret::new(plaintext);
    let decrypt = format!("/v1/key/decrypt/{key}");
    let body =
        serde_json::json!({ "ciphertext": STANDARD.encode(&ciphertext), "context": context })
            .to_string()
            .into_bytes();
    let r = session.call(&decrypt, Some(body)).await?;
    let decrypted = (r.status == 200)
        .then(|| field(&r.body, "plaintext"))
        .flatten()
        .map(Secret::new);
    match decrypted {
        Some(d) if d == plaintext => Ok(RoundTrip {
            describe_denied: describe_denied(client, endpoint, key).await,
        }),
        Some(_) => Err(rejected(
            &decrypt,
            200,
            "the decrypted data key differs from the generated one".into(),
            "KES's key store returns inconsistent key material: check it",
        )),
        None => Err(rejected(
            &decrypt,
            r.status,
            r.message(),
            "KES could not decrypt its own data key: check its key store",
        )),
    }
}

/// MinIO's keep-alive: `GET /v1/key/describe/<key>`. Only a 403 matters
/// here (anything else is what the wait already judged).
async fn describe_denied(client: &KesClient, endpoint: &Endpoint, key: &KeyName) -> Option<String> {
    let route = format!("/v1/key/describe/{key}");
    match client.get(endpoint, &route).await {
        Ok(r) if r.status == 403 => Some(route),
        _ => None,
    }
}
