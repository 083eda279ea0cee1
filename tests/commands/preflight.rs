//! `kesgate preflight` (minio.service's ExecStartPre) and the episode that
//! keeps a retrying unit's journal to one entry per state change.

#[path = "../common/mod.rs"]
mod common;

use std::fs;

use common::*;

#[test]
fn without_a_configuration_minio_starts_as_before() {
    let f = Fixture::new();
    let notify = NotifySocket::new();
    let missing = f.path("no-such-kesgate.toml");
    let out = notify
        .spawn_command(&missing, "preflight")
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("not configured"), "{}", text(&out));
    let sent = notify.drain();
    assert!(
        sent.iter()
            .any(|m| m.starts_with("STATUS=kesgate: not configured")),
        "{sent:?}"
    );
    assert!(!sent.iter().any(|m| m.contains("READY=1")), "{sent:?}");
}

#[test]
fn renders_like_start_but_never_sends_ready() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let cfg = f.start_config(&kes.endpoint());
    let notify = NotifySocket::new();
    let out = notify
        .spawn_command(&cfg, "preflight")
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let env = fs::read_to_string(f.path("minio")).unwrap();
    assert!(env.contains("MINIO_KMS_KES_API_KEY="), "{env}");
    assert_eq!(kes.keys(), ["minio-default"]);
    let sent = notify.drain();
    // READY=1 from an ExecStartPre would mark minio.service started before
    // MinIO itself runs; every STATUS= says whose text it is.
    assert!(!sent.iter().any(|m| m.contains("READY=1")), "{sent:?}");
    let statuses: Vec<&String> = sent.iter().filter(|m| m.contains("STATUS=")).collect();
    assert!(!statuses.is_empty(), "{sent:?}");
    assert!(
        statuses.iter().all(|m| m.contains("STATUS=kesgate: ")),
        "{statuses:?}"
    );
    assert!(
        statuses
            .last()
            .unwrap()
            .contains("key minio-default present and works"),
        "{statuses:?}"
    );
}

#[test]
fn a_permanent_error_fails_preflight_with_its_own_code() {
    let f = Fixture::new();
    let kes = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![minio_policy(&"0".repeat(64))],
    );
    let cfg = f.start_config(&kes.endpoint());
    let out = run(&cfg, &["preflight"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    assert!(text(&out).contains(IDENTITY), "{}", text(&out));
}

/// A unit that retries runs a new process per attempt; under systemd
/// (INVOCATION_ID set) the episode file carries what was already said.
#[test]
fn a_retrying_unit_tells_each_state_once() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    kes.set_sealed(true);
    let cfg = f.config(
        &[kes.endpoint()],
        "timeout = \"2s\"\nmax_interval = \"100ms\"",
    );
    let runtime = tempfile::tempdir().unwrap();
    let attempt = || {
        kesgate()
            .arg("--config")
            .arg(&cfg)
            .arg("wait")
            .env("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
            .env("RUNTIME_DIRECTORY", runtime.path())
            .output()
            .unwrap()
    };
    let first = attempt();
    assert_eq!(first.status.code(), Some(69), "{}", text(&first));
    assert!(
        text(&first).contains("key store unreachable"),
        "{}",
        text(&first)
    );
    assert!(
        text(&first).contains("was not ready after"),
        "{}",
        text(&first)
    );
    assert!(runtime.path().join("wait.episode").exists());

    let second = attempt();
    assert_eq!(second.status.code(), Some(69));
    assert!(
        !text(&second).contains("key store unreachable")
            && !text(&second).contains("not ready after")
            && !text(&second).contains("waiting for KES"),
        "the same state again must not be logged again:\n{}",
        text(&second)
    );

    kes.set_sealed(false);

    // 2024+ sees the store back at its next key-store ping.

    kes.ping_now();
    let ready = attempt();
    assert_eq!(ready.status.code(), Some(0), "{}", text(&ready));
    assert!(text(&ready).contains("is ready"), "{}", text(&ready));
    assert!(
        !runtime.path().join("wait.episode").exists(),
        "success ends the episode"
    );

    kes.set_sealed(true);
    let again = attempt();
    assert!(
        text(&again).contains("key store unreachable"),
        "a new outage is told afresh:\n{}",
        text(&again)
    );
}
