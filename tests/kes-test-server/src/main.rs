//! `kes-test-server`: the test KES as a process, for the systemd tests,
//! the demo and the benchmark. Writes its CA to `--tls-dir`/ca.pem and the
//! certificate it presents to `--tls-dir`/server.pem.
//!
//! kes-test-server --listen 127.0.0.1:7373 --tls-dir DIR [--generation 2024]
//!   [--policy NAME=ID[,ID…]:PATH[,PATH…]]… [--admin ID] [--auth=off]
//!   [--ping-interval 10000ms] [--login-timeout 4000ms] [--cert-days N]
//!   [--openbao ADDR --openbao-token-file FILE [--openbao-mount kes]]

use std::path::PathBuf;

use std::time::Duration;

use kes_test_server::{Backend, ClientAuth, Config, Generation, Policy, Server, TestCa};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:7373".to_owned();
    let mut tls_dir: Option<PathBuf> = None;
    let mut generation = Generation::V2024;
    let mut policies = Vec::new();
    let mut admin = None;
    let (mut bao, mut bao_token_file, mut bao_mount) = (None, None, "kes".to_owned());
    let (mut sealed, mut log_requests) = (false, false);
    let mut auth = ClientAuth::ReleaseDefault;
    let mut ping = kes_test_server::DEFAULT_PING_INTERVAL;
    let mut login_timeout = Duration::from_secs(4);
    // The server certificate's lifetime (`kes identity new` makes 30-day
    // ones); unset: the CA's long one.
    let mut cert_days: Option<i64> = None;
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--listen" => listen = value(),
            "--tls-dir" => tls_dir = Some(value().into()),
            "--cert-days" => {
                cert_days = Some(
                    value()
                        .parse()
                        .unwrap_or_else(|_| die("--cert-days takes a number of days")),
                )
            }
            "--generation" => generation = value().parse().unwrap_or_else(|e: String| die(&e)),
            "--policy" => policies.push(parse_policy(&value())),
            "--admin" => admin = Some(value()),
            "--openbao" => bao = Some(value()),
            "--openbao-token-file" => bao_token_file = Some(value()),
            "--openbao-mount" => bao_mount = value(),
            "--sealed" => sealed = true,
            "--log-requests" => log_requests = true,
            // As `kes server --auth=off` (2023 releases verify otherwise).
            "--auth=off" => auth = ClientAuth::Off,
            "--login-timeout" => {
                login_timeout = value()
                    .strip_suffix("ms")
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_millis)
                    .unwrap_or_else(|| die("--login-timeout takes MILLISECONDSms"))
            }
            "--ping-interval" => {
                ping = value()
                    .strip_suffix("ms")
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_millis)
                    .unwrap_or_else(|| die("--ping-interval takes MILLISECONDSms"))
            }
            _ => die(&format!("unknown argument {flag}")),
        }
    }
    let tls_dir = tls_dir.unwrap_or_else(|| die("--tls-dir is required"));
    let backend = match bao {
        None => Backend::memory(),
        Some(addr) => {
            let file =
                bao_token_file.unwrap_or_else(|| die("--openbao needs --openbao-token-file"));
            let token = std::fs::read_to_string(file).unwrap_or_else(|e| die(&e.to_string()));
            Backend::openbao(&addr, token.trim(), &bao_mount)
        }
    };
    // A CA key left by an earlier run is reused, so a restarted server (the
    // system tests' kes.service) is trusted through the ca.pem written then.
    std::fs::create_dir_all(&tls_dir).unwrap_or_else(|e| die(&e.to_string()));
    let key_file = tls_dir.join("ca-key.pem");
    let ca = match std::fs::read_to_string(&key_file) {
        Ok(pem) => TestCa::from_key_pem("kes-test-ca", &pem),
        Err(_) => {
            let ca = TestCa::new("kes-test-ca");
            std::fs::write(&key_file, ca.key_pem()).unwrap_or_else(|e| die(&e.to_string()));
            std::fs::write(tls_dir.join("ca.pem"), &ca.ca_pem)
                .unwrap_or_else(|e| die(&e.to_string()));
            ca
        }
    };
    let cert = match cert_days {
        Some(days) => ca.server_cert_expiring(&["localhost", "127.0.0.1"], days).0,
        None => ca.server_cert(&["localhost", "127.0.0.1"]),
    };
    // The certificate it presents, for tests that compare what kesgate saw.
    std::fs::write(tls_dir.join("server.pem"), &cert.cert_pem)
        .unwrap_or_else(|e| die(&e.to_string()));
    let server = Server::start(Config {
        listen: listen
            .parse()
            .unwrap_or_else(|_| die("--listen takes ADDR:PORT")),
        admin,
        policies,
        backend,
        auth,
        ping_interval: ping,
        ..Config::new(generation, cert)
    });
    server
        .state
        .log_requests
        .store(log_requests, std::sync::atomic::Ordering::SeqCst);
    if let Some(why) = &server.state.exited {
        // Real KES tries its Vault login for about 4 s, then exits 1.
        std::thread::sleep(login_timeout);
        eprintln!("Error: failed to connect to key store: {why}");
        std::process::exit(1);
    }
    if sealed {
        server.set_sealed(true);
    }
    println!(
        "kes-test-server listening on {} ({generation:?})",
        server.addr
    );
    // Serve until killed; SIGUSR1 seals, SIGUSR2 unseals the memory key store.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut seal = signal(SignalKind::user_defined1()).unwrap();
        let mut unseal = signal(SignalKind::user_defined2()).unwrap();
        loop {
            tokio::select! {
                _ = seal.recv() => { server.set_sealed(true); println!("sealed"); }
                _ = unseal.recv() => { server.set_sealed(false); println!("unsealed"); }
            }
        }
    });
}

fn parse_policy(s: &str) -> Policy {
    let (name, rest) = s
        .split_once('=')
        .unwrap_or_else(|| die("--policy NAME=ID,…:PATH,…"));
    let (ids, paths) = rest
        .split_once(':')
        .unwrap_or_else(|| die("--policy NAME=ID,…:PATH,…"));
    Policy::new(
        name,
        &paths.split(',').collect::<Vec<_>>(),
        &ids.split(',').collect::<Vec<_>>(),
    )
}

fn die(msg: &str) -> ! {
    eprintln!("kes-test-server: {msg}");
    std::process::exit(2)
}
