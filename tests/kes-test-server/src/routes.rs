//! KES's HTTP routes as each generation answers them.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};

use crate::backend::StoreError;
use crate::policy::allowed;
use crate::{Generation, State};

type Resp = Response<Full<Bytes>>;

pub async fn handle(state: &State, identity: Option<&str>, req: Request<Incoming>) -> Resp {
    let generation = *state.generation.lock().unwrap();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let body = {
        use http_body_util::BodyExt;
        req.into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default()
    };
    state
        .requests
        .lock()
        .unwrap()
        .push((method.to_string(), path.clone()));
    if state
        .log_requests
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        println!("request {method} {path}");
    }
    if let Some(to) = state.redirect_to.lock().unwrap().clone() {
        return Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("Location", to)
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    let ctx = Ctx {
        state,
        identity,
        generation,
    };
    if path == "/version" {
        let body = serde_json::json!({ "version": generation.release() }).to_string();
        return json(StatusCode::OK, body, generation);
    }
    // With a skip_auth route the listener only requests a certificate:
    // that route answers anyone, every other one refuses the caller.
    if identity.is_none() && !state.skips_auth(generation, &path) {
        let text = match generation {
            Generation::V2024 => "tls: client certificate is required",
            _ => "no client certificate is present",
        };
        return ctx.error(StatusCode::BAD_REQUEST, text);
    }
    match path.as_str() {
        "/v1/ready" if generation != Generation::V2023_02 => ctx.ready(&method, &path).await,
        "/v1/status" => ctx.status(&method, &path).await,
        // 2023-02 has no /v1/ready: its router answers unknown routes with
        // 501 text/plain, before any authorisation.
        _ if generation == Generation::V2023_02 && !known_2023_02(&path) => not_implemented(),
        _ => {
            if let Some(name) = path.strip_prefix("/v1/key/create/") {
                ctx.create(&method, &path, name).await
            } else if let Some(name) = path.strip_prefix("/v1/key/describe/") {
                ctx.describe(&method, &path, name).await
            } else if let Some(name) = path.strip_prefix("/v1/key/generate/") {
                ctx.crypt(&method, &path, name, &body, false).await
            } else if let Some(name) = path.strip_prefix("/v1/key/decrypt/") {
                ctx.crypt(&method, &path, name, &body, true).await
            } else {
                ctx.error(StatusCode::NOT_FOUND, "not found")
            }
        }
    }
}

fn known_2023_02(path: &str) -> bool {
    [
        "/v1/key/create/",
        "/v1/key/describe/",
        "/v1/key/generate/",
        "/v1/key/decrypt/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

fn not_implemented() -> Resp {
    Response::builder()
        .status(StatusCode::NOT_IMPLEMENTED)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Full::new(Bytes::from_static(b"not implemented\n")))
        .unwrap()
}

struct Ctx<'a> {
    state: &'a State,
    identity: Option<&'a str>,
    generation: Generation,
}

fn json(status: StatusCode, body: String, generation: Generation) -> Resp {
    let mut r = Response::builder().status(status);
    r = match generation {
        Generation::V2024 => r
            .header("Content-Type", "application/json")
            .header("Content-Length", body.len()),
        _ => r
            .header("Content-Type", "application/json; charset=utf-8")
            .header("X-Content-Type-Options", "nosniff"),
    };
    r.body(Full::new(Bytes::from(body))).unwrap()
}

impl Ctx<'_> {
    fn error(&self, status: StatusCode, message: &str) -> Resp {
        let body = match self.generation {
            // 2023 formats the JSON by hand (a quote in the text breaks it).
            Generation::V2023_02 | Generation::V2023_05 => format!("{{\"message\":\"{message}\"}}"),
            Generation::V2024 => format!("{{\"message\":{}\n}}", serde_json::Value::from(message)),
        };
        json(status, body, self.generation)
    }

    fn method_not_allowed(&self, got: &Method, want: &str) -> Resp {
        let text = match self.generation {
            Generation::V2024 => format!("received method '{got}' expected '{want}'"),
            _ => "Method Not Allowed".to_owned(),
        };
        let mut r = self.error(StatusCode::METHOD_NOT_ALLOWED, &text);
        r.headers_mut().insert("Accept", want.parse().unwrap());
        r
    }

    fn authorised(&self, path: &str) -> bool {
        let identity = self.identity.unwrap_or_default();
        if self.state.admin.as_deref() == Some(identity) {
            return true;
        }
        allowed(
            &self.state.policies.lock().unwrap(),
            identity,
            path,
            self.generation,
        )
    }

    fn forbidden(&self) -> Resp {
        let text = if self.state.legacy_texts {
            "prohibited by policy"
        } else {
            "not authorized: insufficient permissions"
        };
        self.error(StatusCode::FORBIDDEN, text)
    }

    async fn ready(&self, method: &Method, path: &str) -> Resp {
        if method != Method::GET {
            return self.method_not_allowed(method, "GET");
        }
        // skip_auth: any identity, or none, gets the answer.
        if !self.state.skips_auth(self.generation, path) && !self.authorised(path) {
            return self.forbidden();
        }
        match self.store_view().await {
            Ok(()) => json(StatusCode::OK, String::new(), self.generation),
            Err(StoreError::Unreachable(e)) => match self.generation {
                Generation::V2024 => {
                    self.error(StatusCode::GATEWAY_TIMEOUT, "key store is not reachable")
                }
                _ => self.error(
                    StatusCode::GATEWAY_TIMEOUT,
                    &format!("kv: not reachable: {e}"),
                ),
            },
            Err(StoreError::Unavailable(e)) => match self.generation {
                Generation::V2024 => {
                    self.error(StatusCode::BAD_GATEWAY, "key store is unavailable")
                }
                _ => self.error(StatusCode::BAD_GATEWAY, &e),
            },
            Err(_) => self.error(StatusCode::BAD_GATEWAY, "key store is unavailable"),
        }
    }

    /// The key store as /v1/ready and /v1/status report it. 2024+ answers
    /// "unreachable" from the moment it finds the store down until its next
    /// ping finds it back; 2023 asks the store each time.
    async fn store_view(&self) -> Result<(), StoreError> {
        if self.generation == Generation::V2024
            && self.state.offline.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::Unreachable("key store is not reachable".into()));
        }
        self.state.store_status().await
    }

    async fn status(&self, method: &Method, path: &str) -> Resp {
        if method != Method::GET {
            return self.method_not_allowed(method, "GET");
        }
        if !self.authorised(path) {
            return self.forbidden();
        }
        let mut v = serde_json::json!({
            "version": self.generation.release(), "os": "linux", "arch": "amd64",
            "num_cpu": 2, "num_cpu_used": 2, "mem_heap_used": 1, "mem_stack_used": 1,
        });
        // False flags are omitted (omitempty); 2023-05 reports a store that
        // is down as unavailable, 2024+ as unreachable.
        match self.generation {
            Generation::V2023_02 => v["uptime"] = 1_000_000_000u64.into(),
            Generation::V2023_05 => {
                v["uptime"] = 1_000_000_000u64.into();
                match self.store_view().await {
                    Ok(()) => v["keystore_latency"] = 1.into(),
                    Err(_) => v["keystore_unavailable"] = true.into(),
                }
            }
            Generation::V2024 => {
                v["uptime"] = 1.into();
                match self.store_view().await {
                    Ok(()) => v["keystore_latency"] = 1.into(),
                    Err(_) => v["keystore_unreachable"] = true.into(),
                }
            }
        }
        json(StatusCode::OK, v.to_string(), self.generation)
    }

    fn name_error(&self, name: &str) -> Option<Resp> {
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        match self.generation {
            Generation::V2024 => {
                let ok = !name.is_empty()
                    && name.len() <= 80
                    && valid_chars
                    && !name.starts_with('-')
                    && !name.ends_with('-')
                    && name != "_";
                (!ok).then(|| {
                    self.error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "key name '{name}' is empty, too long or contains invalid characters"
                        ),
                    )
                })
            }
            _ => {
                let msg = if name.is_empty() {
                    Some("invalid argument: name is empty")
                } else if name.len() > 80 {
                    Some("invalid argument: name is too long")
                } else if !valid_chars {
                    Some("invalid argument: name contains invalid character")
                } else {
                    None
                };
                msg.map(|m| self.error(StatusCode::BAD_REQUEST, m))
            }
        }
    }

    async fn create(&self, method: &Method, path: &str, name: &str) -> Resp {
        let method_ok = match self.generation {
            Generation::V2024 => *method == Method::PUT || *method == Method::POST,
            _ => *method == Method::POST,
        };
        if !method_ok {
            let want = if self.generation == Generation::V2024 {
                "PUT"
            } else {
                "POST"
            };
            return self.method_not_allowed(method, want);
        }
        // 2023-05 checks the name before the caller; the others the reverse.
        if self.generation == Generation::V2023_05
            && let Some(r) = self.name_error(name)
        {
            return r;
        }
        if !self.authorised(path) {
            return self.forbidden();
        }
        if let Some(r) = self.name_error(name) {
            return r;
        }
        // Until its next health check, KES takes the store for down.
        if self.state.offline.load(std::sync::atomic::Ordering::SeqCst) {
            return match self.generation {
                Generation::V2024 => self.error(StatusCode::BAD_GATEWAY, "failed to create key"),
                _ => self.error(StatusCode::BAD_GATEWAY, "bad gateway: failed to create key"),
            };
        }
        let created = self.state.backend.create(name).await;
        if matches!(
            created,
            Err(StoreError::Unreachable(_) | StoreError::Unavailable(_))
        ) {
            self.state
                .offline
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        match created {
            Ok(()) => json(StatusCode::OK, String::new(), self.generation),
            Err(StoreError::Exists) => {
                let text = if self.state.legacy_texts {
                    "key does already exist"
                } else {
                    "key already exists"
                };
                self.error(StatusCode::BAD_REQUEST, text)
            }
            Err(StoreError::Unreachable(_) | StoreError::Unavailable(_)) => match self.generation {
                Generation::V2024 => self.error(StatusCode::BAD_GATEWAY, "failed to create key"),
                _ => self.error(StatusCode::BAD_GATEWAY, "bad gateway: failed to create key"),
            },
            Err(StoreError::NotFound) => {
                self.error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }

    /// generate (`decrypt = false`) or decrypt: AES-256-GCM under a key
    /// derived from the key store's material, bound to the key name.
    async fn crypt(
        &self,
        method: &Method,
        path: &str,
        name: &str,
        body: &[u8],
        decrypt: bool,
    ) -> Resp {
        use base64::Engine as _;
        use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
        let b64 = base64::engine::general_purpose::STANDARD;
        let put_only = self
            .state
            .put_only
            .load(std::sync::atomic::Ordering::SeqCst);
        let method_ok = match self.generation {
            _ if put_only => *method == Method::PUT,
            Generation::V2024 => *method == Method::PUT || *method == Method::POST,
            _ => *method == Method::POST,
        };
        if !method_ok {
            let want = if self.generation == Generation::V2024 || put_only {
                "PUT"
            } else {
                "POST"
            };
            return self.method_not_allowed(method, want);
        }
        if !self.authorised(path) {
            return self.forbidden();
        }
        if let Some(r) = self.name_error(name) {
            return r;
        }
        if self
            .state
            .fail_key_ops
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return match self.generation {
                Generation::V2024 => {
                    self.error(StatusCode::BAD_GATEWAY, "key store is unavailable")
                }
                _ => self.error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &self
                        .state
                        .error_text
                        .lock()
                        .unwrap()
                        .clone()
                        .unwrap_or_else(|| "vault: permission denied".into()),
                ),
            };
        }
        let material = match self.material(name).await {
            Ok(m) => m,
            Err(r) => return r,
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, &material);
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, digest.as_ref()).expect("key"));
        let request: serde_json::Value = if body.is_empty() {
            serde_json::json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => return self.error(StatusCode::BAD_REQUEST, "invalid request body"),
            }
        };
        let context = request["context"]
            .as_str()
            .and_then(|c| b64.decode(c).ok())
            .unwrap_or_default();
        let aad = [name.as_bytes(), &context].concat();
        if !decrypt
            && self
                .state
                .empty_data_keys
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            let body = r#"{"plaintext":"","ciphertext":""}"#;
            return json(StatusCode::OK, body.into(), self.generation);
        }
        if !decrypt {
            let plaintext = crate::random::<32>();
            let nonce = crate::random::<12>();
            let mut sealed = plaintext.to_vec();
            key.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut sealed,
            )
            .expect("seal");
            let ciphertext = [nonce.as_slice(), &sealed].concat();
            let body = serde_json::json!({"plaintext": b64.encode(plaintext), "ciphertext": b64.encode(ciphertext)});
            return json(StatusCode::OK, body.to_string(), self.generation);
        }
        let not_authentic = || {
            self.error(
                StatusCode::BAD_REQUEST,
                "decryption failed: ciphertext is not authentic",
            )
        };
        let Some(ciphertext) = request["ciphertext"]
            .as_str()
            .and_then(|c| b64.decode(c).ok())
        else {
            return not_authentic();
        };
        if ciphertext.len() < 12 + 16 {
            return not_authentic();
        }
        let (nonce, sealed) = ciphertext.split_at(12);
        let mut sealed = sealed.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).expect("12 bytes");
        match key.open_in_place(nonce, Aad::from(&aad), &mut sealed) {
            Ok(plain) => {
                let body = serde_json::json!({"plaintext": b64.encode(plain)});
                json(StatusCode::OK, body.to_string(), self.generation)
            }
            Err(_) => not_authentic(),
        }
    }

    async fn describe(&self, method: &Method, path: &str, name: &str) -> Resp {
        if method != Method::GET {
            return self.method_not_allowed(method, "GET");
        }
        if !self.authorised(path) {
            return self.forbidden();
        }
        if let Some(r) = self.name_error(name) {
            return r;
        }
        match self.material(name).await.map(|_| ()) {
            Ok(()) => {
                let algorithm = if self.generation == Generation::V2024 {
                    "AES256"
                } else {
                    "AES256-GCM_SHA256"
                };
                let body = serde_json::json!({
                    "name": name, "algorithm": algorithm,
                    "created_at": "2026-01-01T00:00:00Z", "created_by": self.identity.unwrap_or_default(),
                });
                let mut r = json(StatusCode::OK, body.to_string(), self.generation);
                // 2023 sets `Content-Length: application/json` by mistake;
                // Go then sniffs the body's type as text/plain.
                if self.generation != Generation::V2024 {
                    r.headers_mut()
                        .insert("Content-Type", "text/plain; charset=utf-8".parse().unwrap());
                }
                r
            }
            Err(r) => r,
        }
    }

    /// A key's material through KES's cache: a key read once is served
    /// while the store is down, until the entry expires; an uncached one
    /// then fails with 502, and so does it until KES's next health check
    /// after the store was down. Absent keys are never cached.
    async fn material(&self, name: &str) -> Result<Vec<u8>, Resp> {
        if let Some(m) = self.state.cached(name) {
            return Ok(m);
        }
        let unreadable = || match self.generation {
            Generation::V2024 => self.error(StatusCode::BAD_GATEWAY, "failed to read key"),
            _ => self.error(StatusCode::BAD_GATEWAY, "bad gateway: failed to access key"),
        };
        if self.state.offline.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(unreadable());
        }
        match self.state.backend.material(name).await {
            Ok(m) => {
                self.state.cache_put(name, m.clone());
                Ok(m)
            }
            Err(StoreError::NotFound) => {
                Err(self.error(StatusCode::NOT_FOUND, "key does not exist"))
            }
            Err(StoreError::Unreachable(_) | StoreError::Unavailable(_)) => {
                self.state
                    .offline
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Err(unreadable())
            }
            Err(StoreError::Exists) => {
                Err(self.error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
            }
        }
    }
}
