//! A KES stand-in for kesgate's tests (never shipped). Faithful to the facts
//! in shared/notes/kes-api.md: mTLS with any client certificate (chain not
//! verified), identity = SHA-256 of the certificate's SPKI, policies with
//! glob (2023) or prefix (2024+) matching, and the routes, methods, statuses,
//! check order and messages of the 2023-02, 2023-05 and 2024+ generations.

mod backend;
mod minio;
mod openbao;
mod pki;
mod policy;
mod routes;
mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use backend::Backend;
pub use minio::{KeyLookup, MinioStandIn};
pub use openbao::OpenBao;
pub use pki::{ServerCert, TestCa};
pub use policy::Policy;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// 2023-02-15: no /v1/ready, no key-store fields in /v1/status.
    V2023_02,
    /// 2023-05-02 … 2023-10-03: /v1/ready; POST only; name checked before auth.
    V2023_05,
    /// 2023-10-24 … 2025-03-12: PUT (and POST) for create; prefix policies.
    V2024,
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
    /// Not a KES behaviour: refuse POST on generate/decrypt (PUT only), to
    /// show how kesgate names a method mismatch.
    pub put_only: std::sync::atomic::AtomicBool,
}

/// A running server; it stops when the handle is dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    /// Binds now (so the port is known and connections queue), serves on a
    /// thread of its own.
    pub fn start(config: Config) -> Server {
        let std_listener = std::net::TcpListener::bind(config.listen).expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
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
            put_only: Default::default(),
        });
        let acceptor = TlsAcceptor::from(tls::server_config(&config.cert));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("listener");
                tokio::select! {
                    _ = serve(listener, acceptor, st) => {}
                    _ = stopped => {}
                }
            });
        });
        Server {
            addr,
            state,
            _stop: stop,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn set_sealed(&self, sealed: bool) {
        self.state.backend.set_sealed(sealed);
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
            let _ = http1::Builder::new()
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
