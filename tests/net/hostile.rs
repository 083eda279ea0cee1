//! kesgate against a hostile peer (tests/kes-test-server/src/hostile.rs):
//! each class of bad behaviour ends in bounded time with its documented
//! exit class and a message that fits. Transient classes (69) are those
//! waiting can heal; "not KES" (76) is what no retry changes.

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::*;
use kes_test_server::hostile::{Handshake, Hostile, Reply, Script};

fn peer(f: &Fixture, handshake: Handshake, script: Script) -> Hostile {
    Hostile::start(&f.ca.server_cert(&["localhost"]), handshake, script)
}

/// A KES that answers every call kesgate makes correctly, except what
/// `change` overrides.
fn kes_like(change: impl Fn(&str, &str) -> Option<Reply> + Send + Sync + 'static) -> Script {
    Arc::new(move |method, path| {
        if let Some(r) = change(method, path) {
            return r;
        }
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        match path {
            "/v1/ready" => Reply::status(200, "text/plain", ""),
            "/version" => Reply::json(200, r#"{"version":"2025-03-12T09-35-18Z"}"#),
            p if p.starts_with("/v1/status") => Reply::json(
                200,
                r#"{"version":"2025-03-12T09-35-18Z","keystore_latency":1}"#,
            ),
            p if p.starts_with("/v1/key/generate/") => Reply::json(
                200,
                &format!(
                    r#"{{"plaintext":"{}","ciphertext":"{}"}}"#,
                    b64(&[7; 32]),
                    b64(b"sealed")
                ),
            ),
            p if p.starts_with("/v1/key/decrypt/") => {
                Reply::json(200, &format!(r#"{{"plaintext":"{}"}}"#, b64(&[7; 32])))
            }
            "/v1/key/describe/minio-default" => Reply::json(
                200,
                r#"{"name":"minio-default","algorithm":"AES256","created_at":"2025-01-01T00:00:00Z","created_by":"x"}"#,
            ),
            p if p.starts_with("/v1/key/describe/") => {
                Reply::json(404, r#"{"message":"key does not exist"}"#)
            }
            _ => Reply::status(200, "text/plain", ""),
        }
    })
}

fn wait_cfg(f: &Fixture, endpoints: &[String]) -> std::path::PathBuf {
    f.config_plus(
        endpoints,
        "timeout = \"2s\"\nmax_interval = \"200ms\"\nkes_unit = \"\"",
        "[env_file]\npath = \"minio\"\n",
    )
}

#[test]
fn a_peer_that_never_answers_is_waited_for_until_the_timeout() {
    let f = Fixture::new();
    for handshake in [Handshake::Mute, Handshake::Tls] {
        let p = peer(&f, handshake, Arc::new(|_, _| Reply::Silent));
        let t = expect_exit(
            &wait_cfg(&f, &[p.endpoint()]),
            &["wait"],
            69,
            &["KES was not ready after"],
        );
        assert!(!t.contains("not KES"), "{t}");
    }
}

#[test]
fn tls_alerts_and_old_protocol_versions_are_not_kes() {
    let f = Fixture::new();
    for (handshake, said) in [
        (Handshake::Alert(40), "HandshakeFailure"),
        (Handshake::Alert(70), "ProtocolVersion"),
        (Handshake::Tls11, "TLS handshake failed"),
    ] {
        let p = peer(&f, handshake, Arc::new(|_, _| Reply::Silent));
        let t = expect_exit(
            &wait_cfg(&f, &[p.endpoint()]),
            &["wait"],
            76,
            &[said, "so this is not KES", "check the host and port"],
        );
        assert!(
            !t.contains("unseal"),
            "{handshake:?}: no Vault advice:\n{t}"
        );
    }
}

#[test]
fn bad_status_lines_and_garbage_are_not_kes() {
    let f = Fixture::new();
    for raw in [
        &b"HTTP/1.1 abc Broken\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    ] {
        let raw = raw.to_vec();
        let p = peer(
            &f,
            Handshake::Tls,
            Arc::new(move |_, _| Reply::Raw(raw.clone())),
        );
        expect_exit(
            &wait_cfg(&f, &[p.endpoint()]),
            &["wait"],
            76,
            &["not an HTTP answer KES would give"],
        );
    }
}

#[test]
fn redirects_are_never_followed_whatever_their_target() {
    let f = Fixture::new();
    for (status, to) in [
        (307, "http://127.0.0.1:9/v1/ready".to_owned()),
        (301, "/v1/ready".to_owned()),
        (302, "https://localhost:1/loop".to_owned()),
    ] {
        let location = to.clone();
        let p = peer(
            &f,
            Handshake::Tls,
            Arc::new(move |_, _| Reply::Http {
                status,
                headers: vec![("Location".into(), location.clone())],
                body: Vec::new(),
                endless: false,
            }),
        );
        expect_exit(
            &wait_cfg(&f, &[p.endpoint()]),
            &["wait"],
            76,
            &["KES never redirects", &to],
        );
        assert_eq!(
            p.requests.lock().unwrap().len(),
            1,
            "one request, never a second hop"
        );
    }
}

#[test]
fn an_endless_body_is_cut_and_the_wait_ends() {
    let f = Fixture::new();
    let p = peer(
        &f,
        Handshake::Tls,
        Arc::new(|_, _| Reply::Http {
            status: 503,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: Vec::new(),
            endless: true,
        }),
    );
    let t = expect_exit(
        &wait_cfg(&f, &[p.endpoint()]),
        &["wait"],
        69,
        &["KES was not ready after"],
    );
    assert!(
        t.lines().all(|l| l.len() < 2000),
        "no line carries the body:\n{}",
        &t[..t.len().min(4000)]
    );
}

#[test]
fn control_characters_from_a_peer_are_escaped() {
    let f = Fixture::new();
    let p = peer(
        &f,
        Handshake::Tls,
        Arc::new(|_, _| Reply::status(503, "text/plain", "\x1b[31mred\x07\rover\nwritten")),
    );
    let t = expect_exit(&wait_cfg(&f, &[p.endpoint()]), &["wait"], 69, &[]);
    assert!(
        !t.contains('\x1b') && !t.contains('\x07') && !t.contains('\r'),
        "{t:?}"
    );
}

#[test]
fn empty_short_or_mismatched_data_keys_are_not_kes() {
    let f = Fixture::new();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let short = format!(
        r#"{{"plaintext":"{}","ciphertext":"{}"}}"#,
        b64(&[7; 16]),
        b64(b"s")
    );
    let no_ciphertext = format!(r#"{{"plaintext":"{}","ciphertext":""}}"#, b64(&[7; 32]));
    let other = format!(r#"{{"plaintext":"{}"}}"#, b64(&[8; 32]));
    for (generate, decrypt) in [
        (r#"{"plaintext":"","ciphertext":""}"#.to_owned(), None),
        (short, None),
        (no_ciphertext, None),
        (String::new(), Some(other)),
    ] {
        let p = peer(
            &f,
            Handshake::Tls,
            kes_like(move |_, path| {
                if path.starts_with("/v1/key/generate/") && !generate.is_empty() {
                    return Some(Reply::json(200, &generate));
                }
                match (&decrypt, path.starts_with("/v1/key/decrypt/")) {
                    (Some(d), true) => Some(Reply::json(200, d)),
                    _ => None,
                }
            }),
        );
        let cfg = wait_cfg(&f, &[p.endpoint()]);
        expect_exit(&cfg, &["start"], 76, &["/v1/key/"]);
        assert!(!f.path("minio").exists(), "nothing rendered");
    }
    // The same script with good data keys passes: the cases above fail for
    // their data keys alone.
    let p = peer(&f, Handshake::Tls, kes_like(|_, _| None));
    expect_exit(&wait_cfg(&f, &[p.endpoint()]), &["start"], 0, &[]);
}

#[test]
fn status_asks_every_endpoint_at_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let f = Fixture::new();
    let (open, max_open) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let peers: Vec<Hostile> = (0..3)
        .map(|_| {
            Hostile::start_counted(
                &f.ca.server_cert(&["localhost"]),
                Handshake::Mute,
                Arc::new(|_, _| Reply::Silent),
                open.clone(),
                max_open.clone(),
            )
        })
        .collect();
    let endpoints: Vec<String> = peers.iter().map(Hostile::endpoint).collect();
    let out = run_bounded(&wait_cfg(&f, &endpoints), &["status"], &[]);
    let (code, t) = (out.status.code(), text(&out));
    assert_eq!(code, Some(1), "{t}");
    // Asked one after the other, never two mute peers would wait at once
    // (a probe may open a second connection to one of them: at least 3).
    assert!(max_open.load(Ordering::SeqCst) >= 3, "{t}");
    assert!(t.contains("no complete answer within 10s"), "{t}");
}

/// Out of file descriptors is kesgate's own limit, not "KES down" and not
/// "not KES": transient (69) with a fix that says so, and never a crash,
/// whatever the limit (below 64 kesgate does not start, and says why).
#[test]
fn too_many_open_files_is_kesgates_own_limit() {
    let f = Fixture::new();
    // More mute peers than descriptors: each probe holds its socket open.
    let peers: Vec<Hostile> = (0..100)
        .map(|_| peer(&f, Handshake::Mute, Arc::new(|_, _| Reply::Silent)))
        .collect();
    let endpoints: Vec<String> = peers
        .iter()
        .map(|p| format!("https://127.0.0.1:{}", p.addr.port()))
        .collect();
    let cfg = wait_cfg(&f, &endpoints);
    for (limit, said) in [
        (8, "kesgate needs at least 64"),
        (63, "kesgate needs at least 64"),
        (64, "cannot open a connection (too many open files)"),
        (80, "cannot open a connection (too many open files)"),
    ] {
        // `ulimit -n` sets the hard limit too: kesgate cannot raise it.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n {limit} && exec \"$0\" --log terminal --config \"$1\" wait"
            ))
            .arg(env!("CARGO_BIN_EXE_kesgate"))
            .arg(&cfg)
            .env_remove("NOTIFY_SOCKET")
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(69), "limit {limit}:\n{t}");
        assert!(
            t.contains(said) && t.contains("LimitNOFILE="),
            "limit {limit}:\n{t}"
        );
        assert!(!t.contains("panicked"), "limit {limit}:\n{t}");
    }
}
