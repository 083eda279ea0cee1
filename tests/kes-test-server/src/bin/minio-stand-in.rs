//! `minio-stand-in`: installed as /usr/local/bin/minio in the system tests,
//! under a unit shaped like upstream's minio.service. It starts the way
//! MinIO does (internal/kms/config.go, cmd/server-main.go):
//!
//! 0. applies MINIO_CONFIG_ENV_FILE as MinIO's loadEnvVarsFromFiles does
//!    (its own parser: no escapes; its values override systemd's; a missing
//!    file is ignored, an unreadable or malformed one is fatal), then
//!    re-executes itself with that environment so that /proc/PID/environ
//!    shows what MinIO would run with;
//! 1. checks the MINIO_KMS_* variables with MinIO's presence rules (a
//!    variable that is defined counts, even empty) and exits 1 with MinIO's
//!    message when they are invalid;
//! 2. connects to KES with the rendered credentials (API key → self-signed
//!    Ed25519 client certificate, or cert/key files; CAPATH as trust), sends
//!    POST /v1/key/generate/<default>, creates the key on a 404, and exits 1
//!    on anything else (unreachable, TLS, 5xx) — MinIO since 2024-05;
//! 3. listens (`--address`, default :9000), serves health and bucket
//!    encryption with keys checked on KES;
//! 4. in a distributed deployment (VOLUMES are URLs, `{a...b}` expanded):
//!    compares its system configuration with its peers' as MinIO does
//!    (kes_test_server::minio_peers: the endpoints, the command lines and
//!    every MINIO_* outside the skip list) and waits, logging what differs,
//!    until at least half of its remote peers match; health answers 503
//!    until then. Then READY=1.
//!
//! Its node is the endpoint whose host is this host's name
//! (`STAND_IN_HOSTNAME`, else the kernel's hostname); it listens on that
//! endpoint's address, so several nodes can share one network namespace
//! (where MinIO itself would take every local address for its own).
//!
//! minio-stand-in server [--address HOST:PORT] [--console-address …] VOLUMES…

use std::env;
use std::sync::Arc;

use base64::Engine as _;
use kes_test_server::{KeyLookup, MinioStandIn};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const KES_VARS: [&str; 7] = [
    "MINIO_KMS_KES_ENDPOINT",
    "MINIO_KMS_KES_KEY_NAME",
    "MINIO_KMS_KES_API_KEY",
    "MINIO_KMS_KES_KEY_FILE",
    "MINIO_KMS_KES_CERT_FILE",
    "MINIO_KMS_KES_KEY_PASSWORD",
    "MINIO_KMS_KES_CAPATH",
];

fn main() {
    apply_config_env_file();
    let (address, volumes) = parse_args();
    let node = node(&volumes);
    let kms = match kes_config() {
        Ok(kms) => kms,
        Err(e) => fatal(&format!("Invalid KMS configuration specified: {e}")),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // MinIO runs without a KMS too; this stand-in exists to test one.
    let kes = kms.unwrap_or_else(|| fatal("no KMS configured: this stand-in needs KES"));
    let lookup = rt.block_on(kms_startup(kes)).unwrap_or_else(|e| fatal(&e));
    let user = env::var("MINIO_ROOT_USER").unwrap_or_else(|_| "minioadmin".into());
    let password = env::var("MINIO_ROOT_PASSWORD").unwrap_or_else(|_| "minioadmin".into());
    let bind = node.as_ref().map_or(address, |n| n.bind);
    let minio = MinioStandIn::start_on(bind, &user, &password, lookup);
    if let Some(node) = &node {
        *minio.state.system.lock().unwrap() = Some(node.config.clone());
        rt.block_on(wait_for_peers(node));
    }
    minio.set_healthy(true);
    println!("API: http://{}", minio.addr);
    notify("READY=1");
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
}

/// MinIO's `parsEnvEntry`, written again here (the stand-in must not judge
/// kesgate with kesgate's own parser).
fn apply_config_env_file() {
    const APPLIED: &str = "MINIO_STAND_IN_CONFIG_ENV_APPLIED";
    if env::var_os(APPLIED).is_some() {
        // SAFETY: single-threaded, before anything else runs.
        unsafe { env::remove_var(APPLIED) };
        return;
    }
    let Some(file) = env::var("MINIO_CONFIG_ENV_FILE")
        .ok()
        .filter(|f| !f.is_empty())
    else {
        return;
    };
    // MinIO's reader: relative to the working directory, bytes as they
    // are, 64 KiB lines; a missing file is ignored, anything else fatal.
    let entries = match kes_test_server::minio_env::read(std::path::Path::new(&file)) {
        Ok(Some(e)) => e,
        Ok(None) => return,
        Err(e) => fatal(&format!(
            "Unable to read the config environment file {file}: {e}"
        )),
    };
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.args(env::args_os().skip(1)).env(APPLIED, "1");
    for (k, v) in entries {
        use std::os::unix::ffi::OsStringExt;
        cmd.env(
            std::ffi::OsString::from_vec(k),
            std::ffi::OsString::from_vec(v),
        );
    }
    use std::os::unix::process::CommandExt;
    let e = cmd.exec();
    fatal(&format!("re-exec: {e}"));
}

fn parse_args() -> (std::net::SocketAddr, Vec<String>) {
    let mut args = env::args().skip(1);
    if args.next().as_deref() != Some("server") {
        fatal("usage: minio server [--address HOST:PORT] VOLUMES…");
    }
    let mut address = ":9000".to_owned();
    let mut volumes = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--address" => address = args.next().unwrap_or_default(),
            "--console-address" | "--certs-dir" => {
                args.next();
            }
            _ => volumes.push(a),
        }
    }
    let address = if address.starts_with(':') {
        format!("127.0.0.1{address}")
    } else {
        address
    };
    let address = address
        .parse()
        .unwrap_or_else(|_| fatal(&format!("invalid --address {address}")));
    (address, volumes)
}

/// This host as a node of a distributed deployment.
struct Node {
    bind: std::net::SocketAddr,
    /// The other nodes, `host:port`.
    peers: Vec<String>,
    config: kes_test_server::minio_peers::SystemConfig,
}

/// `None` unless VOLUMES name URLs (a distributed deployment).
fn node(volumes: &[String]) -> Option<Node> {
    use kes_test_server::minio_peers::{SystemConfig, expand};
    if !volumes
        .iter()
        .any(|v| v.starts_with("http://") || v.starts_with("https://"))
    {
        return None;
    }
    let me = env::var("STAND_IN_HOSTNAME").unwrap_or_else(|_| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_owned()
    });
    let endpoints: Vec<String> = volumes.iter().flat_map(|v| expand(v)).collect();
    let mut hosts: Vec<String> = Vec::new();
    for e in &endpoints {
        let authority = e
            .split_once("://")
            .map_or(e.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !hosts.contains(&authority) {
            hosts.push(authority);
        }
    }
    let host_of = |a: &str| a.rsplit_once(':').map_or(a, |(h, _)| h).to_owned();
    let mine = hosts.iter().find(|a| host_of(a) == me).unwrap_or_else(|| {
        fatal(&format!(
            "no endpoint of {volumes:?} names this host ({me})"
        ))
    });
    use std::net::ToSocketAddrs;
    let bind = mine
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.find(std::net::SocketAddr::is_ipv4))
        .unwrap_or_else(|| fatal(&format!("cannot resolve {mine}")));
    let vars = env::vars_os().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    });
    Some(Node {
        bind,
        peers: hosts.iter().filter(|a| *a != mine).cloned().collect(),
        config: SystemConfig::of(vars, volumes.to_vec(), endpoints.len()),
    })
}

/// MinIO's start-up verification: every round fetches each remote peer's
/// configuration and compares it with ours; goes on once at least half
/// (integer division) match. What differs is logged once per peer.
async fn wait_for_peers(node: &Node) {
    use kes_test_server::minio_peers::enough;
    let mut told = std::collections::BTreeSet::new();
    let mut retries = 0;
    let mut matching = 0;
    while !enough(matching, node.peers.len()) {
        matching = 0;
        for peer in &node.peers {
            match fetch(peer).await.map(|theirs| node.config.diff(&theirs)) {
                Ok(Ok(())) => matching += 1,
                Ok(Err(why)) => {
                    if told.insert((peer.clone(), why.clone())) {
                        eprintln!("{peer} has incorrect configuration: {why}");
                    }
                }
                Err(_) => {} // offline
            }
        }
        if enough(matching, node.peers.len()) {
            break;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        tokio::time::sleep(std::time::Duration::from_millis(
            25 + u64::from(nanos % 100),
        ))
        .await;
        retries += 1;
        if retries >= 20 {
            eprintln!(
                "Waiting for at least {} remote servers with valid configuration to be online",
                node.peers.len() / 2
            );
            retries = 0;
        }
    }
}

/// A peer's system configuration (plain HTTP/1.1, 2 s); `Err` when it is
/// offline or does not answer with one.
async fn fetch(peer: &str) -> std::io::Result<kes_test_server::minio_peers::SystemConfig> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(peer).await?;
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: {peer}\r\nConnection: close\r\n\r\n",
            kes_test_server::minio_peers::VERIFY,
        );
        tcp.write_all(head.as_bytes()).await?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(2), exchange)
        .await
        .map_err(|_| std::io::Error::other("timeout"))??;
    let text = String::from_utf8_lossy(&answer);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).map_err(std::io::Error::other)
}

struct Kes {
    endpoints: Vec<String>,
    key_name: String,
    cert_pem: String,
    key_pem: String,
    ca: Vec<CertificateDer<'static>>,
}

/// MinIO's rules: one KMS family; KES needs ENDPOINT, KEY_NAME and exactly
/// one authentication method.
fn kes_config() -> Result<Option<Kes>, String> {
    let present = |v: &str| env::var_os(v).is_some();
    let kes = KES_VARS.iter().any(|v| present(v));
    let minkms = [
        "MINIO_KMS_SERVER",
        "MINIO_KMS_ENCLAVE",
        "MINIO_KMS_API_KEY",
        "MINIO_KMS_SSE_KEY",
    ]
    .iter()
    .any(|v| present(v));
    let static_key = env::var("MINIO_KMS_SECRET_KEY").is_ok_and(|v| !v.is_empty())
        || env::var("MINIO_KMS_SECRET_KEY_FILE")
            .is_ok_and(|f| !f.is_empty() && std::path::Path::new(&f).exists());
    match (kes, minkms, static_key) {
        (_, true, true) | (true, true, _) => {
            return Err("kms: configuration for MinIO KMS and MinIO KES is present".into());
        }
        (true, _, true) => {
            return Err("kms: configuration for MinIO KES and static key is present".into());
        }
        (false, _, _) => return Ok(None),
        _ => {}
    }
    let get = |v: &str| env::var(v).unwrap_or_default();
    let endpoints: Vec<String> = get("MINIO_KMS_KES_ENDPOINT")
        .split(',')
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    if endpoints.is_empty() {
        return Err("kms: no KES server endpoint provided".into());
    }
    let key_name = get("MINIO_KMS_KES_KEY_NAME");
    if !present("MINIO_KMS_KES_KEY_NAME") {
        return Err(
            "kms: incomplete configuration for MinIO KES: missing 'MINIO_KMS_KES_KEY_NAME'".into(),
        );
    }
    let cert_auth = [
        "MINIO_KMS_KES_KEY_FILE",
        "MINIO_KMS_KES_CERT_FILE",
        "MINIO_KMS_KES_KEY_PASSWORD",
    ]
    .iter()
    .any(|v| present(v));
    let (cert_pem, key_pem) = if cert_auth {
        if present("MINIO_KMS_KES_API_KEY") {
            return Err("kms: ambiguous configuration for MinIO KES: 'MINIO_KMS_KES_API_KEY' and client certificate is present".into());
        }
        let read = |v: &str| std::fs::read_to_string(get(v)).map_err(|e| format!("{v}: {e}"));
        (
            read("MINIO_KMS_KES_CERT_FILE")?,
            read("MINIO_KMS_KES_KEY_FILE")?,
        )
    } else if present("MINIO_KMS_KES_API_KEY") {
        api_key_identity(&get("MINIO_KMS_KES_API_KEY"))?
    } else {
        return Err(
            "kms: incomplete configuration for MinIO KES: missing authentication method".into(),
        );
    };
    let ca = match env::var("MINIO_KMS_KES_CAPATH") {
        Ok(path) => CertificateDer::pem_file_iter(&path)
            .map_err(|e| format!("MINIO_KMS_KES_CAPATH {path}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("MINIO_KMS_KES_CAPATH {path}: {e}"))?,
        Err(_) => Vec::new(),
    };
    Ok(Some(Kes {
        endpoints,
        key_name,
        cert_pem,
        key_pem,
        ca,
    }))
}

/// `kes:v1:` + base64(0x00 ‖ seed) → the self-signed client certificate
/// MinIO (kms-go) presents for it.
fn api_key_identity(key: &str) -> Result<(String, String), String> {
    let raw = key
        .strip_prefix("kes:v1:")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .filter(|b| b.len() == 33 && b[0] == 0)
        .ok_or("kms: invalid API key")?;
    // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410).
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&raw[1..]);
    let pkcs8 = PrivatePkcs8KeyDer::from(der);
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)
        .map_err(|e| format!("kms: API key: {e}"))?;
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .and_then(|p| p.self_signed(&key))
        .map_err(|e| format!("kms: API key certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// MinIO's KMS start-up: generate with the default key; create it on 404.
async fn kms_startup(kes: Kes) -> Result<KeyLookup, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in kes.ca {
        roots.add(c).map_err(|e| format!("kms: CA: {e}"))?;
    }
    let chain = CertificateDer::pem_slice_iter(kes.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("kms: client certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(kes.key_pem.as_bytes())
        .map_err(|e| format!("kms: client key: {e}"))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("kms: client certificate: {e}"))?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| e.to_string())?;
    let mut last = String::new();
    for endpoint in &kes.endpoints {
        let generate = format!("{endpoint}/v1/key/generate/{}", kes.key_name);
        let status = match client.post(&generate).body("{}").send().await {
            Ok(r) => r.status().as_u16(),
            Err(e) => {
                last = format!("{endpoint}: {e:?}");
                continue;
            }
        };
        match status {
            200 | 403 => {}
            404 => {
                let create = format!("{endpoint}/v1/key/create/{}", kes.key_name);
                let r = client
                    .post(&create)
                    .send()
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                if !(r.status().is_success() || r.status() == 400 || r.status() == 403) {
                    return Err(format!(
                        "kms: failed to create key {}: {}",
                        kes.key_name,
                        r.status()
                    ));
                }
            }
            s => {
                return Err(format!(
                    "kms: failed to generate data key with KMS key: HTTP {s}"
                ));
            }
        }
        return Ok(KeyLookup::Remote {
            client,
            endpoint: endpoint.clone(),
        });
    }
    Err(format!(
        "Unable to initialize KMS: no KES server reachable: {last}"
    ))
}

fn notify(state: &str) {
    let Some(path) = env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    let path = path.to_string_lossy().into_owned();
    let result = if let Some(abstract_name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = result {
        eprintln!("sd_notify: {e}");
    }
}

fn fatal(msg: &str) -> ! {
    eprintln!("FATAL {msg}");
    std::process::exit(1)
}
