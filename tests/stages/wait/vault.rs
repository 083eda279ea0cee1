//! `[vault]`: kesgate says why KES cannot serve, from the Vault's own seal
//! status and health, against a real OpenBao (3 key shares, threshold 2)
//! and a KES test server that behaves like real KES: it exits when its
//! Vault is sealed (or down, or not initialised) at its start, answers 504
//! while sealed, and (2024+) until its next key-store ping after an unseal.

#[path = "../../common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use kes_test_server::OpenBao;

/// kesgate.toml for `kes` with `[vault] address = vault` and a 1 s wait.
fn config(f: &Fixture, kes: &str, vault: &str) -> PathBuf {
    f.config_plus(
        &[kes.to_owned()],
        "timeout = \"1s\"\nmax_interval = \"200ms\"\nkes_unit = \"\"",
        &format!("\n[vault]\naddress = \"{vault}\"\n"),
    )
}

/// `kesgate wait` under a notify socket: (exit code, output, STATUS= lines).
fn wait(cfg: &std::path::Path) -> (Option<i32>, String, Vec<String>) {
    let notify = NotifySocket::new();
    let (out, seen) = notify.collect(notify.spawn(cfg));
    (out.status.code(), text(&out), seen)
}

fn vault_json(cfg: &std::path::Path) -> serde_json::Value {
    let out = run(cfg, &["status", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    r["vault"].clone()
}

/// Both on the terminal and in STATUS=.
fn says(cfg: &std::path::Path, code: i32, needle: &str) {
    let (c, out, status) = wait(cfg);
    assert_eq!(c, Some(code), "{out}");
    assert!(out.contains(needle), "terminal lacks {needle:?}:\n{out}");
    assert!(
        status.iter().any(|m| m.contains(needle)),
        "STATUS= lacks {needle:?}: {status:?}"
    );
}

fn kes_on(f: &Fixture, bao: &OpenBao, listen: &str) -> Server {
    Server::start(Config {
        listen: listen.parse().unwrap(),
        backend: Backend::openbao(&bao.addr, &bao.root_token, "kes"),
        ..f.kes_config(Generation::V2024)
    })
}

#[test]
fn every_vault_state_is_said_with_what_kes_says() {
    let f = Fixture::new();
    let mut bao = OpenBao::start_uninitialised(f.dir.path());
    // Not initialised: KES cannot log in, so it exited at its start. Its
    // port stays free for its restart below: on 127.0.0.2, where no other
    // test (running in parallel) binds, so no one else answers there.
    let kes = kes_on(&f, &bao, "127.0.0.2:0");
    assert!(kes.state.exited.is_some());
    let (addr, endpoint) = (kes.addr.to_string(), format!("https://{}", kes.addr));
    drop(kes);
    let cfg = config(&f, &endpoint, &bao.addr);
    says(&cfg, 69, "KES is down because its Vault is not initialised");
    let v = vault_json(&cfg);
    assert_eq!(
        (v["reachable"].clone(), v["initialized"].clone()),
        (true.into(), false.into()),
        "{v}"
    );

    bao.init(3, 2);
    says(
        &cfg,
        69,
        &format!("Vault {} is sealed: 0 of 2 unseal keys entered", bao.addr),
    );
    says(
        &cfg,
        69,
        "KES is down because its Vault is sealed (KES exits when it cannot log in at start-up)",
    );
    // STATUS= leads with the cause and what to do, the endpoint and the
    // counters after it; the last one, after the timeout, keeps the cause
    // and its fix.
    let (_, _, status) = wait(&cfg);
    let waiting: Vec<&String> = status.iter().filter(|m| m.contains("attempt")).collect();
    assert!(!waiting.is_empty(), "{status:?}");
    for m in &waiting {
        assert!(
            m.starts_with("STATUS=KES is down because its Vault is sealed"),
            "the cause first: {m}"
        );
        assert!(
            m.find("unseal it") < m.find("attempt"),
            "counters last: {m}"
        );
    }
    let last = status
        .iter()
        .rev()
        .find(|m| m.starts_with("STATUS="))
        .unwrap();
    assert!(
        last.starts_with("STATUS=KES is down because its Vault is sealed")
            && last.contains("fix: unseal Vault")
            && last.contains("gave up after"),
        "the last STATUS= keeps the cause: {last}"
    );
    let v = vault_json(&cfg);
    assert_eq!(
        [&v["sealed"], &v["progress"], &v["threshold"], &v["shares"]],
        [&serde_json::json!(true), &0.into(), &2.into(), &3.into()],
        "{v}"
    );
    assert!(bao.unseal_with(0), "one of two keys: still sealed");
    says(
        &cfg,
        69,
        "is sealed: 1 of 2 unseal keys entered), then KES must be restarted",
    );
    assert_eq!(vault_json(&cfg)["progress"], 1);
    assert!(!bao.unseal_with(1), "two of two: unsealed");
    bao.mount_kv("kes");
    // The Vault is fine, but KES exited at its start: it must be restarted.
    says(
        &cfg,
        69,
        "is unsealed and active; KES itself is not reachable",
    );
    let (_, out, _) = wait(&cfg);
    assert!(out.contains("fix: start KES"), "{out}");
    assert!(!out.contains("fix: unseal"), "{out}");
    let v = vault_json(&cfg);
    assert_eq!(
        (v["sealed"].clone(), v["standby"].clone()),
        (false.into(), false.into()),
        "{v}"
    );
    assert!(v["version"].as_str().is_some_and(|s| !s.is_empty()), "{v}");

    // KES restarted (on the same address): ready.
    let kes = kes_on(&f, &bao, &addr);
    assert!(kes.state.exited.is_none());
    let (code, out, _) = wait(&cfg);
    assert_eq!(code, Some(0), "{out}");

    // Sealed under a running KES: 504, and the Vault says why.
    bao.seal();
    says(
        &cfg,
        69,
        &format!("Vault {} is sealed: 0 of 2 unseal keys entered", bao.addr),
    );
    // Unsealed: 2024+ KES says 504 until its next ping.
    bao.unseal();
    says(
        &cfg,
        69,
        "KES has not noticed yet (next key-store check within 10 s)",
    );
    kes.ping_now();
    assert_eq!(wait(&cfg).0, Some(0));

    // Vault stopped.
    bao.seal();
    bao.stop();
    says(&cfg, 69, &format!("Vault {} is unreachable", bao.addr));
    assert_eq!(vault_json(&cfg)["reachable"], false);
}

/// Counts the HTTP requests that pass through it (a plain TCP relay).
struct CountingProxy {
    addr: String,
    requests: Arc<AtomicUsize>,
}

impl CountingProxy {
    fn start(upstream: &str) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let count = requests.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let count = count.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        count.fetch_add(
                            buf[..n]
                                .windows(9)
                                .filter(|w| w == b"/v1/sys/h" || w == b"/v1/sys/s")
                                .count(),
                            Ordering::SeqCst,
                        );
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                });
            }
        });
        CountingProxy { addr, requests }
    }
}

/// Polling the Vault never changes the wait's pace or load on KES: at most
/// one Vault request per KES attempt, and none once KES is ready.
#[test]
fn at_most_one_vault_request_per_kes_attempt_and_none_when_ready() {
    let f = Fixture::new();
    let bao = OpenBao::start_sealed(f.dir.path());
    bao.unseal();
    bao.mount_kv("kes");
    let kes = kes_on(&f, &bao, "127.0.0.1:0");
    let proxy = CountingProxy::start(&bao.addr);
    let cfg = config(&f, &kes.endpoint(), &proxy.addr);
    // Ready at once: the Vault is never asked.
    assert_eq!(wait(&cfg).0, Some(0));
    assert_eq!(proxy.requests.load(Ordering::SeqCst), 0);
    // Sealed for a whole 1 s wait.
    bao.seal();
    let before = kes.requests().len();
    let (code, out, _) = wait(&cfg);
    assert_eq!(code, Some(69), "{out}");
    let attempts = kes
        .requests_since(before)
        .iter()
        .filter(|(_, p)| p == "/v1/ready")
        .count();
    let asked = proxy.requests.load(Ordering::SeqCst);
    assert!(
        asked >= 1 && asked <= attempts,
        "{asked} Vault requests for {attempts} KES attempts"
    );
}

/// A plain HTTP server answering every request with `body` (200, JSON).
fn fake_vault(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    client,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// Any JSON 200 is not a Vault: `{}` is no "unsealed and active", numbers
/// no Vault sends are not shown as given, and its text is cut and escaped.
#[test]
fn answers_that_are_not_a_vaults_are_a_problem_never_unsealed() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    for (body, said) in [
        ("{}", "no boolean `initialized`"),
        (
            r#"{"initialized":true,"sealed":true,"t":2,"n":3,"progress":7}"#,
            "progress 7 of threshold 2",
        ),
    ] {
        let cfg = config(&f, &kes.endpoint(), &fake_vault(body));
        let out = run(&cfg, &["status", "--json"]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "{r:#}");
        assert_eq!(r["vault"]["not_vault"], true, "{r:#}");
        let problems = r["problems"].to_string();
        assert!(
            problems.contains("does not answer like a Vault or OpenBao") && problems.contains(said),
            "{r:#}"
        );
        let t = text(&run(&cfg, &["status"]));
        assert!(!t.contains("unsealed and active"), "{t}");
    }
    // A real-looking answer with a hostile version string.
    let body = r#"{"initialized":true,"sealed":true,"t":2,"n":3,"progress":1,"version":"2.7\u001b[2J\u0007XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}"#;
    let cfg = config(&f, &kes.endpoint(), &fake_vault(body));
    for args in [&["status"][..], &["status", "--json"]] {
        let out = run(&cfg, args);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), text(&out));
        assert!(!all.contains('\x1b') && !all.contains('\x07'), "{all}");
        assert!(!all.contains(&"X".repeat(400)), "cut: {all}");
    }
}
