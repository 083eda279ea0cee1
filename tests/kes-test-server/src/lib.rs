//! A KES stand-in for kesgate's tests (never shipped). Faithful to the facts
//! in docs/facts.md ("KES releases": what the real releases answered): mTLS
//! (2023 releases verify client certificates unless run with `--auth=off`,
//! 2024+ take any), identity = SHA-256 of the certificate's SPKI, policies
//! with glob (2023) or prefix (2024+) matching, and the routes, methods,
//! statuses, bodies, key cache, ping lag and unseal lag of the 2023-02,
//! 2023-05 and 2024+ generations. tests/facts.rs holds a test per fact.

mod backend;
pub mod client;
pub mod hostile;
mod minio;
pub mod minio_env;
pub mod minio_peers;
mod openbao;
mod pki;
mod policy;
mod routes;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use backend::Backend;
pub use minio::{KeyLookup, MinioStandIn};
pub use openbao::OpenBao;
pub use pki::{ServerCert, TestCa};
pub use policy::Policy;
pub use tls::ClientAuth;

/// How often KES checks its key store's health (`status: ping: 10s`, the
/// default of every release). After the store was seen down (a seal, a
/// stopped Vault), key operations KES cannot serve from its cache stay 502
/// until the next check finds it back (docs/facts.md, "KES releases": 0–10 s).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(10);
/// KES's key cache (`cache: expiry: any`): an entry expires this long after
/// it was loaded, used or not.
pub const CACHE_EXPIRY_ANY: Duration = Duration::from_secs(300);
/// `cache: expiry: unused`: an entry not used for this long expires. A
/// client polling a key keeps it in use.
pub const CACHE_EXPIRY_UNUSED: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// 2023-02-15: no /v1/ready, no key-store fields in /v1/status.
    V2023_02,
    /// 2023-05-02 … 2023-10-03: /v1/ready; POST only; name checked before auth.
    V2023_05,
    /// 2023-10-24 … 2025-03-12: PUT (and POST) for create; prefix policies.
    V2024,
}

impl Generation {
    /// The release name real servers send as `version` (and in /version).
    pub fn release(self) -> &'static str {
        match self {
            Generation::V2023_02 => "2023-02-15T14-54-37Z",
            Generation::V2023_05 => "2023-05-02T22-48-10Z",
            Generation::V2024 => "2025-03-12T09-35-18Z",
        }
    }
}

impl std::str::FromStr for Generation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "2023-02" => Ok(Generation::V2023_02),
            "2023-05" => Ok(Generation::V2023_05),
            "2024" => Ok(Generation::V2024),
            _ => Err(format!(
                "unknown generation {s}: use 2023-02, 2023-05 or 2024"
            )),
        }
    }
}

pub struct Config {
    pub generation: Generation,
    pub listen: SocketAddr,
    pub admin: Option<String>,
    pub policies: Vec<Policy>,
    pub backend: Backend,
    /// The texts of KES ≤ v0.17 ("key does already exist", "prohibited by policy").
    pub legacy_texts: bool,
    pub cert: ServerCert,
    /// Client certificate verification: the release's default, or off
    /// (`kes server --auth=off` on 2023 releases).
    pub auth: ClientAuth,
    /// KES's key-store health check (`status: ping`). After an outage,
    /// uncached key operations (every release) and 2024+'s /v1/ready and
    /// /v1/status report the store down until the next check.
    pub ping_interval: Duration,
    /// KES's key cache: (`expiry: any`, `expiry: unused`).
    pub cache_expiry: (Duration, Duration),
    /// `api: <route>: skip_auth: true` (2023-05 and later): these routes
    /// answer any caller, and the listener only requests a certificate.
    pub skip_auth: Vec<String>,
}

impl Config {
    /// A server as released: memory key store, no policies, on any port.
    pub fn new(generation: Generation, cert: ServerCert) -> Config {
        Config {
            generation,
            listen: "127.0.0.1:0".parse().expect("address"),
            admin: None,
            policies: Vec::new(),
            backend: Backend::memory(),
            legacy_texts: false,
            cert,
            auth: ClientAuth::ReleaseDefault,
            ping_interval: DEFAULT_PING_INTERVAL,
            cache_expiry: (CACHE_EXPIRY_ANY, CACHE_EXPIRY_UNUSED),
            skip_auth: Vec::new(),
        }
    }
}

pub struct State {
    pub generation: Mutex<Generation>,
    pub admin: Option<String>,
    pub policies: Mutex<Vec<Policy>>,
    pub backend: Backend,
    pub legacy_texts: bool,
    /// Requests answered, by path, for the tests' accounting.
    pub requests: Mutex<Vec<(String, String)>>,
    pub connections: AtomicU64,
    /// Print each request on stdout (for the benchmark's accounting).
    pub log_requests: std::sync::atomic::AtomicBool,
    /// /v1/ready answers 200 but generate/decrypt fail (a broken key store).
    pub fail_key_ops: std::sync::atomic::AtomicBool,
    /// The text of the `fail_key_ops` error (a hostile or broken peer).
    pub error_text: Mutex<Option<String>>,
    /// Not a KES behaviour: generate answers 200 with an empty data key.
    pub empty_data_keys: std::sync::atomic::AtomicBool,
    /// Not a KES behaviour: refuse POST on generate/decrypt (PUT only), to
    /// show how kesgate names a method mismatch.
    pub put_only: std::sync::atomic::AtomicBool,
    /// Not a KES behaviour: answer every request with a 307 to this URL (a
    /// hostile or misconfigured peer).
    pub redirect_to: Mutex<Option<String>>,
    /// The key store was seen down; only a health check (ping) clears it.
    pub offline: AtomicBool,
    /// KES's key cache: keys read once are served while the store is down,
    /// until they expire (`cache_expiry`).
    pub cache: Mutex<HashMap<String, CacheEntry>>,
    pub cache_expiry: (Duration, Duration),
    /// Added to the clock the cache reads (tests move time, never sleep).
    pub clock_offset: Mutex<Duration>,
    pub skip_auth: Vec<String>,
    pub pings: AtomicU64,
    /// The key store could not be reached at start-up: as real KES, this
    /// server exited (it listens on nothing).
    pub exited: Option<String>,
}

/// A running server; it stops when the handle is dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    ping: tokio::sync::mpsc::UnboundedSender<std::sync::mpsc::Sender<()>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    /// Binds now (so the port is known and connections queue), serves on a
    /// thread of its own.
    pub fn start(config: Config) -> Server {
        let std_listener = std::net::TcpListener::bind(config.listen).expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        // skip_auth exists from 2023-05 on; 2023-02 ignores the setting.
        let relaxed = !config.skip_auth.is_empty() && config.generation != Generation::V2023_02;
        let tls = tls::server_config(&config.cert, config.generation, config.auth, relaxed);
        let ping_interval = config.ping_interval;
        // KES connects to its key store before it listens, and exits when
        // it cannot (a sealed or stopped Vault: its login fails).
        let exited = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(config.backend.status())
            .err()
            .map(|e| match e {
                backend::StoreError::Unreachable(t) | backend::StoreError::Unavailable(t) => t,
                _ => "key store error".to_owned(),
            });
        let state = Arc::new(State {
            generation: Mutex::new(config.generation),
            admin: config.admin,
            policies: Mutex::new(config.policies),
            backend: config.backend,
            legacy_texts: config.legacy_texts,
            requests: Mutex::default(),
            connections: AtomicU64::new(0),
            log_requests: Default::default(),
            fail_key_ops: Default::default(),
            empty_data_keys: Default::default(),
            error_text: Mutex::default(),
            put_only: Default::default(),
            redirect_to: Mutex::default(),
            offline: AtomicBool::new(false),
            cache: Mutex::default(),
            cache_expiry: config.cache_expiry,
            clock_offset: Mutex::default(),
            skip_auth: config.skip_auth.clone(),
            pings: AtomicU64::new(0),
            exited: exited.clone(),
        });
        if exited.is_some() {
            drop(std_listener);
            let (ping, _) = tokio::sync::mpsc::unbounded_channel();
            let (stop, _) = tokio::sync::oneshot::channel();
            return Server {
                addr,
                state,
                ping,
                _stop: stop,
            };
        }
        let acceptor = TlsAcceptor::from(tls);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ping_tx, mut ping_rx) =
            tokio::sync::mpsc::unbounded_channel::<std::sync::mpsc::Sender<()>>();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("listener");
                let pinger = async {
                    // KES pings its key store at start-up, then every interval.
                    loop {
                        let ack = tokio::select! {
                            () = tokio::time::sleep(ping_interval) => None,
                            Some(ack) = ping_rx.recv() => Some(ack),
                        };
                        st.ping().await;
                        if let Some(ack) = ack {
                            let _ = ack.send(());
                        }
                    }
                };
                tokio::select! {
                    _ = serve(listener, acceptor, st.clone()) => {}
                    _ = pinger => {}
                    _ = stopped => {}
                }
            });
        });
        Server {
            addr,
            state,
            ping: ping_tx,
            _stop: stop,
        }
    }

    /// KES's next key-store ping, now; returns once it is done.
    pub fn ping_now(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.ping.send(tx).expect("server running");
        rx.recv().expect("ping answered");
    }

    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// Seals or unseals the memory key store. A seal is noticed at once
    /// (every key-store call fails); an unseal only at KES's next health
    /// check (`ping_now`, or every `ping_interval`).
    pub fn set_sealed(&self, sealed: bool) {
        self.state.backend.set_sealed(sealed);
        if sealed {
            self.state.offline.store(true, Ordering::SeqCst);
        }
    }

    /// Moves the clock KES's cache reads (entries expire without a sleep).
    pub fn advance_clock(&self, by: Duration) {
        *self.state.clock_offset.lock().unwrap() += by;
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.state.backend.set_unavailable(unavailable);
    }

    pub fn set_fail_key_ops(&self, fail: bool) {
        self.state.fail_key_ops.store(fail, Ordering::SeqCst);
    }

    pub fn set_generation(&self, g: Generation) {
        *self.state.generation.lock().unwrap() = g;
    }

    pub fn set_policies(&self, p: Vec<Policy>) {
        *self.state.policies.lock().unwrap() = p;
    }

    pub fn keys(&self) -> Vec<String> {
        self.state.backend.key_names()
    }

    /// (method, path) of every request answered so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Requests answered after the first `n` (see `requests().len()`).
    pub fn requests_since(&self, n: usize) -> Vec<(String, String)> {
        self.requests().split_off(n)
    }

    /// Whether any request after the first `n` went to a key-create route.
    pub fn created_since(&self, n: usize) -> bool {
        self.requests_since(n)
            .iter()
            .any(|(_, p)| p.starts_with("/v1/key/create/"))
    }

    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }
}

/// One key in KES's cache.
pub struct CacheEntry {
    pub material: Vec<u8>,
    pub loaded: Instant,
    pub used: Instant,
}

impl State {
    /// The key store's state as KES sees it right now; a store found down
    /// stays "offline" for key operations until the next health check.
    pub async fn store_status(&self) -> Result<(), backend::StoreError> {
        let r = self.backend.status().await;
        if r.is_err() {
            self.offline.store(true, Ordering::SeqCst);
        }
        r
    }

    /// The clock KES's cache reads.
    pub fn now(&self) -> Instant {
        Instant::now() + *self.clock_offset.lock().unwrap()
    }

    /// A cached key, unless it expired (`any` since loaded, `unused` since
    /// last used); a hit counts as a use.
    pub fn cached(&self, name: &str) -> Option<Vec<u8>> {
        let now = self.now();
        let (any, unused) = self.cache_expiry;
        let mut cache = self.cache.lock().unwrap();
        let entry = cache.get_mut(name)?;
        if now.duration_since(entry.loaded) >= any || now.duration_since(entry.used) >= unused {
            cache.remove(name);
            return None;
        }
        entry.used = now;
        Some(entry.material.clone())
    }

    pub fn cache_put(&self, name: &str, material: Vec<u8>) {
        let now = self.now();
        self.cache.lock().unwrap().insert(
            name.to_owned(),
            CacheEntry {
                material,
                loaded: now,
                used: now,
            },
        );
    }

    /// Whether the route answers without authorisation (`skip_auth`).
    pub fn skips_auth(&self, generation: Generation, path: &str) -> bool {
        generation != Generation::V2023_02 && self.skip_auth.iter().any(|r| r == path)
    }

    async fn ping(&self) {
        self.pings.fetch_add(1, Ordering::SeqCst);
        let ok = self.store_status().await.is_ok();
        self.offline.store(!ok, Ordering::SeqCst);
    }
}

pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<State>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // Go (and so KES) sets TCP_NODELAY on every connection.
        let _ = tcp.set_nodelay(true);
        let (acceptor, state) = (acceptor.clone(), state.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            state.connections.fetch_add(1, Ordering::SeqCst);
            let identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|der| {
                    webpki::EndEntityCert::try_from(der).ok().map(|c| {
                        let spki = c.subject_public_key_info();
                        hex(ring::digest::digest(&ring::digest::SHA256, spki.as_ref()).as_ref())
                    })
                });
            let service = service_fn(move |req| {
                let (state, identity) = (state.clone(), identity.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(
                        routes::handle(&state, identity.as_deref(), req).await,
                    )
                }
            });
            // HTTP/1.1, or h2 where ALPN chose it (2024+ offers both).
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

pub fn random<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("randomness");
    b
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A plain HTTP client (for OpenBao). reqwest's rustls backend is compiled
/// in without a default provider, so name ring once.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
