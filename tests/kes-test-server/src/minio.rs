//! A MinIO stand-in for the bucket stage (plain HTTP): the cluster health
//! endpoint, buckets, and bucket default encryption whose KMS key is checked
//! against the KES test server's key store, as MinIO checks it with KES.
//! It refuses what MinIO refuses: unsigned or streaming (chunked) payloads,
//! a body whose Content-MD5 or x-amz-content-sha256 does not match.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use md5::Digest as _;

use crate::State as KesState;

/// How the stand-in learns whether KES has a key, as MinIO does before it
/// stores a bucket's SSE-KMS setting (a data key is generated with it).
#[derive(Clone)]
pub enum KeyLookup {
    /// In-process: the KES test server's key store.
    Local(Arc<KesState>),
    /// Over mTLS with MinIO's own identity: POST /v1/key/generate/<key>.
    Remote {
        client: reqwest::Client,
        endpoint: String,
    },
}

/// What MinIO answers for a key that fails the check.
struct KeyProblem(StatusCode, &'static str, String);

impl KeyLookup {
    async fn check(&self, key: &str) -> Result<(), KeyProblem> {
        let missing = || {
            KeyProblem(
                StatusCode::NOT_FOUND,
                "kms:KeyNotFound",
                "key with given key ID does not exist".into(),
            )
        };
        match self {
            KeyLookup::Local(kes) => {
                if kes.backend.key_names().iter().any(|k| k == key) {
                    Ok(())
                } else {
                    Err(missing())
                }
            }
            KeyLookup::Remote { client, endpoint } => {
                let resp = client
                    .post(format!("{endpoint}/v1/key/generate/{key}"))
                    .body("{}")
                    .send()
                    .await;
                match resp.map(|r| r.status().as_u16()) {
                    Ok(200) => Ok(()),
                    Ok(404) => Err(missing()),
                    Ok(403) => Err(KeyProblem(
                        StatusCode::FORBIDDEN,
                        "kms:NotAuthorized",
                        "not authorized to perform KMS operation".into(),
                    )),
                    other => Err(KeyProblem(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "kms:KeyGenerationFailed",
                        format!("failed to generate data key with KMS key: {other:?}"),
                    )),
                }
            }
        }
    }
}

#[derive(Default)]
pub struct MinioState {
    pub healthy: AtomicBool,
    /// bucket → stored encryption XML
    pub buckets: Mutex<BTreeMap<String, Option<String>>>,
    pub bucket_creations: AtomicU64,
    pub encryption_puts: AtomicU64,
    pub access_key: String,
    pub secret_key: String,
    /// A node of a distributed MinIO: what its peers verify theirs against.
    pub system: Mutex<Option<crate::minio_peers::SystemConfig>>,
}

pub struct MinioStandIn {
    pub addr: SocketAddr,
    pub state: Arc<MinioState>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl MinioStandIn {
    /// `kes`: the KES test server whose keys MinIO would find.
    pub fn start(access_key: &str, secret_key: &str, kes: Arc<KesState>) -> MinioStandIn {
        let addr = "127.0.0.1:0".parse().unwrap();
        MinioStandIn::start_on(addr, access_key, secret_key, KeyLookup::Local(kes))
    }

    /// Listens on `addr`; keys are checked through `kes`.
    pub fn start_on(
        addr: SocketAddr,
        access_key: &str,
        secret_key: &str,
        kes: KeyLookup,
    ) -> MinioStandIn {
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(MinioState {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            ..Default::default()
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let serve = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        let _ = tcp.set_nodelay(true);
                        let (st, kes) = (st.clone(), kes.clone());
                        tokio::spawn(async move {
                            let svc = service_fn(move |req| {
                                let (st, kes) = (st.clone(), kes.clone());
                                async move {
                                    Ok::<_, std::convert::Infallible>(handle(&st, &kes, req).await)
                                }
                            });
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), svc)
                                .await;
                        });
                    }
                };
                tokio::select! { _ = serve => {}, _ = stopped => {} }
            });
        });
        MinioStandIn {
            addr,
            state,
            _stop: stop,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.state.healthy.store(healthy, Ordering::SeqCst);
    }

    pub fn add_bucket(&self, name: &str, encryption: Option<&str>) {
        self.state
            .buckets
            .lock()
            .unwrap()
            .insert(name.into(), encryption.map(str::to_owned));
    }

    /// The stored SSE configuration's (algorithm, key id).
    pub fn encryption(&self, bucket: &str) -> Option<(String, String)> {
        let xml = self
            .state
            .buckets
            .lock()
            .unwrap()
            .get(bucket)
            .cloned()
            .flatten()?;
        Some((
            tag(&xml, "SSEAlgorithm").unwrap_or_default(),
            tag(&xml, "KMSMasterKeyID").unwrap_or_default(),
        ))
    }
}

fn tag(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>1</RequestId></Error>"
    );
    Response::builder()
        .status(status)
        .header("Content-Type", "application/xml")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn ok(body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What MinIO's signature checks see first: the scheme, our access key, and
/// a payload hash and MD5 that match the body. (The signature value itself
/// is not recomputed here.)
fn check_auth(
    st: &MinioState,
    req: &hyper::http::request::Parts,
    body: &[u8],
) -> Option<Response<Full<Bytes>>> {
    let header = |n: &str| {
        req.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let auth = header("authorization");
    let prefix = format!("AWS4-HMAC-SHA256 Credential={}/", st.access_key);
    if !auth.starts_with(&prefix)
        || !auth.contains("/s3/aws4_request")
        || !auth.contains("Signature=")
    {
        return Some(s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Access Denied.",
        ));
    }
    let signed = auth
        .split("SignedHeaders=")
        .nth(1)
        .unwrap_or_default()
        .split(',')
        .next()
        .unwrap_or_default();
    for needed in ["host", "x-amz-content-sha256", "x-amz-date"] {
        if !signed.split(';').any(|h| h == needed) {
            return Some(s3_error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                &format!("{needed} is not signed"),
            ));
        }
    }
    let sha = header("x-amz-content-sha256");
    if sha.starts_with("STREAMING-") || header("transfer-encoding").contains("chunked") {
        return Some(s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "streaming payloads are not supported",
        ));
    }
    if sha != hex(ring::digest::digest(&ring::digest::SHA256, body).as_ref()) {
        return Some(s3_error(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "payload hash mismatch",
        ));
    }
    let md5 = header("content-md5");
    if !md5.is_empty()
        && md5 != base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
    {
        return Some(s3_error(
            StatusCode::BAD_REQUEST,
            "BadDigest",
            "Content-MD5 mismatch",
        ));
    }
    if !body.is_empty() && !signed.split(';').any(|h| h == "content-md5") {
        return Some(s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "content-md5 is not signed",
        ));
    }
    None
}

async fn handle(st: &MinioState, kes: &KeyLookup, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    if path == crate::minio_peers::VERIFY {
        return verify(st);
    }
    if path == "/minio/health/cluster" {
        return if st.healthy.load(Ordering::SeqCst) {
            ok(String::new())
        } else {
            Response::builder()
                .status(503)
                .header("x-minio-server-status", "offline")
                .body(Full::default())
                .unwrap()
        };
    }
    if !st.healthy.load(Ordering::SeqCst) {
        return s3_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServerNotInitialized",
            "Server not initialized yet, please try again.",
        );
    }
    if let Some(denied) = check_auth(st, &parts, &body) {
        return denied;
    }
    let bucket = path.trim_start_matches('/').to_owned();
    let encryption = parts.uri.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "encryption" || p == "encryption=")
    });
    let exists = st.buckets.lock().unwrap().contains_key(&bucket);
    match (parts.method.as_str(), encryption) {
        ("HEAD", false) => {
            let status = if exists { 200 } else { 404 };
            Response::builder()
                .status(status)
                .body(Full::default())
                .unwrap()
        }
        ("PUT", false) => {
            let mut buckets = st.buckets.lock().unwrap();
            if buckets.contains_key(&bucket) {
                return s3_error(
                    StatusCode::CONFLICT,
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                );
            }
            buckets.insert(bucket, None);
            st.bucket_creations.fetch_add(1, Ordering::SeqCst);
            ok(String::new())
        }
        (_, true) if !exists => s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ),
        ("GET", true) => match st.buckets.lock().unwrap().get(&bucket).cloned().flatten() {
            Some(xml) => ok(xml),
            None => s3_error(
                StatusCode::NOT_FOUND,
                "ServerSideEncryptionConfigurationNotFoundError",
                "The server side encryption configuration was not found",
            ),
        },
        // MinIO: 204, and the bucket has no default encryption any more.
        ("DELETE", true) => {
            st.buckets.lock().unwrap().insert(bucket, None);
            Response::builder()
                .status(204)
                .body(Full::default())
                .unwrap()
        }
        ("PUT", true) => {
            let xml = String::from_utf8_lossy(&body).into_owned();
            let alg = tag(&xml, "SSEAlgorithm").unwrap_or_default();
            let key = tag(&xml, "KMSMasterKeyID").unwrap_or_default();
            let valid = match alg.as_str() {
                "aws:kms" => !key.is_empty() && key.trim() == key,
                "AES256" => key.is_empty(),
                _ => false,
            };
            if !valid || xml.matches("<Rule>").count() != 1 {
                return s3_error(
                    StatusCode::BAD_REQUEST,
                    "MalformedXML",
                    "The XML you provided was not well-formed or did not validate against our published schema.",
                );
            }
            // MinIO asks KES for a data key with the key: a missing key is 404.
            let key_id = key.strip_prefix("arn:aws:kms:").unwrap_or(&key);
            if alg == "aws:kms"
                && let Err(KeyProblem(status, code, message)) = kes.check(key_id).await
            {
                return s3_error(status, code, &message);
            }
            let stored = if xml.contains("xmlns=") {
                xml
            } else {
                xml.replacen("<ServerSideEncryptionConfiguration", "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"", 1)
            };
            st.buckets.lock().unwrap().insert(bucket, Some(stored));
            st.encryption_puts.fetch_add(1, Ordering::SeqCst);
            ok(String::new())
        }
        _ => s3_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ),
    }
}

/// A peer's start-up verification: this node's system configuration, for
/// the peer to compare with its own (MinIO's serverVerifyHandler).
fn verify(st: &MinioState) -> Response<Full<Bytes>> {
    match st.system.lock().unwrap().as_ref() {
        Some(mine) => ok(serde_json::to_string(mine).unwrap()),
        None => text_status(404, "not a distributed deployment".into()),
    }
}

fn text_status(status: u16, text: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(text)))
        .unwrap()
}
