//! Key stores behind the test server: memory (sealed by a switch) or a real
//! OpenBao, whose own seal state decides reachability.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

pub enum StoreError {
    /// The key store cannot be reached (a sealed Vault lands here).
    Unreachable(String),
    /// The key store answers but cannot serve (KES: 502 on /v1/ready).
    Unavailable(String),
    Exists,
    NotFound,
}

pub enum Backend {
    Memory {
        sealed: AtomicBool,
        unavailable: AtomicBool,
        keys: Mutex<BTreeMap<String, String>>,
    },
    OpenBao {
        addr: String,
        token: String,
        mount: String,
        http: reqwest::Client,
    },
}

impl Backend {
    pub fn memory() -> Backend {
        Backend::Memory {
            sealed: AtomicBool::new(false),
            unavailable: AtomicBool::new(false),
            keys: Mutex::default(),
        }
    }

    pub fn openbao(addr: &str, token: &str, mount: &str) -> Backend {
        Backend::OpenBao {
            addr: addr.trim_end_matches('/').into(),
            token: token.into(),
            mount: mount.into(),
            http: crate::http_client(),
        }
    }

    pub fn set_sealed(&self, value: bool) {
        match self {
            Backend::Memory { sealed, .. } => sealed.store(value, Ordering::SeqCst),
            Backend::OpenBao { .. } => panic!("seal the OpenBao server itself"),
        }
    }

    pub fn set_unavailable(&self, value: bool) {
        match self {
            Backend::Memory { unavailable, .. } => unavailable.store(value, Ordering::SeqCst),
            Backend::OpenBao { .. } => panic!("only the memory key store can be made unavailable"),
        }
    }

    pub async fn status(&self) -> Result<(), StoreError> {
        match self {
            Backend::Memory {
                sealed,
                unavailable,
                ..
            } => {
                if sealed.load(Ordering::SeqCst) {
                    Err(StoreError::Unreachable("vault: key store is sealed".into()))
                } else if unavailable.load(Ordering::SeqCst) {
                    // As a Vault that is down: Go's error text, quotes and all.
                    Err(StoreError::Unavailable(
                        "Get \"http://127.0.0.1:8200/v1/sys/health\": dial tcp 127.0.0.1:8200: connect: connection refused".into(),
                    ))
                } else {
                    Ok(())
                }
            }
            Backend::OpenBao { addr, http, .. } => {
                let r = http
                    .get(format!("{addr}/v1/sys/health"))
                    .send()
                    .await
                    .map_err(|e| StoreError::Unreachable(e.to_string()))?;
                match r.status().as_u16() {
                    200 => Ok(()),
                    503 => Err(StoreError::Unreachable("vault: key store is sealed".into())),
                    s => Err(StoreError::Unreachable(format!("vault health: HTTP {s}"))),
                }
            }
        }
    }

    pub async fn get(&self, name: &str) -> Result<(), StoreError> {
        self.material(name).await.map(|_| ())
    }

    pub async fn create(&self, name: &str) -> Result<(), StoreError> {
        match self {
            Backend::Memory { keys, .. } => {
                self.status().await?;
                let mut keys = keys.lock().unwrap();
                if keys.contains_key(name) {
                    return Err(StoreError::Exists);
                }
                keys.insert(name.into(), crate::hex(&crate::random::<32>()));
                Ok(())
            }
            Backend::OpenBao {
                addr,
                token,
                mount,
                http,
            } => {
                match self.get(name).await {
                    Ok(()) => return Err(StoreError::Exists),
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e),
                }
                let r = http
                    .post(format!("{addr}/v1/{mount}/{name}"))
                    .header("X-Vault-Token", token)
                    .json(&serde_json::json!({"bytes": crate::hex(&crate::random::<32>())}))
                    .send()
                    .await
                    .map_err(|e| StoreError::Unreachable(e.to_string()))?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(StoreError::Unreachable(format!(
                        "vault: HTTP {}",
                        r.status()
                    )))
                }
            }
        }
    }

    /// The key's secret material (what the key store holds for it).
    pub async fn material(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        match self {
            Backend::Memory { keys, .. } => {
                self.status().await?;
                keys.lock()
                    .unwrap()
                    .get(name)
                    .map(|m| m.clone().into_bytes())
                    .ok_or(StoreError::NotFound)
            }
            Backend::OpenBao {
                addr,
                token,
                mount,
                http,
            } => {
                let r = http
                    .get(format!("{addr}/v1/{mount}/{name}"))
                    .header("X-Vault-Token", token)
                    .send()
                    .await
                    .map_err(|e| StoreError::Unreachable(e.to_string()))?;
                match r.status().as_u16() {
                    200 => {
                        let v: serde_json::Value = r
                            .json()
                            .await
                            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
                        Ok(v["data"]["bytes"]
                            .as_str()
                            .unwrap_or_default()
                            .as_bytes()
                            .to_vec())
                    }
                    404 => Err(StoreError::NotFound),
                    s => Err(StoreError::Unreachable(format!("vault: HTTP {s}"))),
                }
            }
        }
    }

    pub fn key_names(&self) -> Vec<String> {
        match self {
            Backend::Memory { keys, .. } => keys.lock().unwrap().keys().cloned().collect(),
            Backend::OpenBao { .. } => vec![],
        }
    }
}
