//! `status` speaks as the commands do: for every permanent KES failure
//! class and a sealed key store, the line `status` shows for the endpoint
//! (text and JSON) carries the sentence and the fix `wait` prints, and no
//! output of either holds a Rust debug shape.

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;

use common::*;
use kes_test_server::hostile::{Handshake, Hostile, Reply};

/// `wait`'s error sentence and its fix, without kesgate's log prefix.
fn said_by_wait(cfg: &std::path::Path, code: i32) -> (String, String) {
    let out = run(cfg, &["wait"]);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    let t = text(&out);
    let lines: Vec<&str> = t
        .lines()
        .filter_map(|l| l.strip_prefix("kesgate: error: "))
        .collect();
    // The sentence, without the transport's own words in its last
    // parenthesis (a connection status asks afresh may word it otherwise).
    let first = lines.first().expect("an error line");
    let sentence = first
        .rsplit_once(" (")
        .map_or(*first, |(s, _)| s)
        .to_string();
    let fix = lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("fix: "))
        .expect("a fix")
        .to_string();
    (sentence, fix)
}

fn no_rust_shapes(what: &str, t: &str) {
    for shape in [
        "Some(",
        "None",
        "Forbidden {",
        "Untrusted(",
        "ClientCertRejected(",
        "Protocol(",
        "Ok(",
        "Err(",
    ] {
        assert!(!t.contains(shape), "{what} shows {shape:?}:\n{t}");
    }
}

/// Status, text and JSON: the endpoint's state holds `needles`.
fn status_says(cfg: &std::path::Path, needles: &[&str]) {
    // Unwrapped, so that a sentence is one line to compare.
    let out = kesgate_for(cfg)
        .arg("status")
        .env("COLUMNS", "1000")
        .output()
        .unwrap();
    let t = format!("{}{}", String::from_utf8_lossy(&out.stdout), text(&out));
    no_rust_shapes("status", &t);
    let json = run(cfg, &["status", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let state = r["kes"][0]["state"].as_str().unwrap_or_default().to_owned();
    no_rust_shapes("status --json", &r.to_string());
    for n in needles {
        assert!(t.contains(n), "status text lacks {n:?}:\n{t}");
        assert!(
            state.contains(n),
            "status --json state lacks {n:?}: {state}"
        );
    }
}

#[test]
fn every_permanent_failure_reads_the_same_in_status_as_in_wait() {
    // 77: an identity no policy names.
    let f = Fixture::new();
    let kes = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![minio_policy(&"0".repeat(64))],
    );
    let c = f.short_wait(&kes.endpoint());
    let (sentence, fix) = said_by_wait(&c, 77);
    status_says(&c, &[&sentence, &fix]);

    // 77: a 2023 release verifying client certificates (no --auth=off).
    let f = Fixture::new();
    let kes = Server::start(Config {
        auth: ClientAuth::ReleaseDefault,
        ..f.kes_config(Generation::V2023_05)
    });
    let c = f.short_wait(&kes.endpoint());
    let (sentence, fix) = said_by_wait(&c, 77);
    assert!(fix.contains("--auth=off"), "{fix}");
    status_says(&c, &[&sentence, &fix]);

    // 76: a server certificate MinIO would not trust.
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    std::fs::write(f.path("ca.pem"), TestCa::new("other").ca_pem).unwrap();
    let c = f.short_wait(&kes.endpoint());
    let (sentence, fix) = said_by_wait(&c, 76);
    status_says(
        &c,
        &[sentence.split(": invalid peer").next().unwrap(), &fix],
    );
    assert!(sentence.contains("not trusted"), "{sentence}");

    // 76: not KES (200 to everything).
    let f = Fixture::new();
    let peer = Hostile::start(
        &f.ca.server_cert(&["localhost"]),
        Handshake::Tls,
        Arc::new(|_, _| Reply::status(200, "application/json", "{}")),
    );
    let c = f.short_wait(&peer.endpoint());
    let (sentence, fix) = said_by_wait(&c, 76);
    status_says(&c, &[&sentence, &fix]);
}

#[test]
fn a_sealed_key_store_reads_the_same_in_status_as_in_wait() {
    for generation in ALL_GENERATIONS {
        let f = Fixture::new();
        let kes = f.server(generation);
        kes.set_sealed(true);
        let c = f.short_wait(&kes.endpoint());
        let out = run(&c, &["wait"]);
        assert_eq!(out.status.code(), Some(69), "{}", text(&out));
        let said = "key store unreachable (sealed?)";
        assert!(text(&out).contains(said), "{}", text(&out));
        no_rust_shapes("wait", &text(&out));
        status_says(&c, &[said]);
    }
}

/// No command shows a Rust debug shape, in any of the ways it can fail or
/// succeed here: each command against a KES that refuses us, against a
/// server that is not KES, and with a configuration that cannot load.
#[test]
fn no_command_shows_a_rust_debug_shape() {
    let f = Fixture::new();
    let refusing = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![minio_policy(&"0".repeat(64))],
    );
    let not_kes = Hostile::start(
        &f.ca.server_cert(&["localhost"]),
        Handshake::Tls,
        Arc::new(|_, _| Reply::status(200, "application/json", "{}")),
    );
    let broken = f.path("broken.toml");
    std::fs::write(&broken, "[kes]\nendpoints = 3\n").unwrap();
    let g = Fixture::new();
    std::fs::copy(f.path("ca.pem"), g.path("ca.pem")).unwrap();
    let configs = [
        f.short_wait(&refusing.endpoint()),
        g.short_wait(&not_kes.endpoint()),
        broken,
    ];
    let commands: [&[&str]; 10] = [
        &["wait"],
        &["start"],
        &["preflight"],
        &["keys"],
        &["buckets"],
        &["render", "--check"],
        &["render", "--dry-run", "--diff"],
        &["status"],
        &["status", "--json"],
        &["identity", "of", "not-a-key"],
    ];
    for cfg in &configs {
        Fixture::add_kes_setting(cfg, "key_retry_window = \"1s\"");
        for args in commands {
            let out = run(cfg, args);
            let t = format!("{}{}", String::from_utf8_lossy(&out.stdout), text(&out));
            no_rust_shapes(&format!("{args:?} with {}", cfg.display()), &t);
        }
    }
}
