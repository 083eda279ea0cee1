//! Ready means "MinIO will start": `kesgate start` generates a data key with
//! the default key and decrypts it with MinIO's identity, as MinIO does.

#[path = "../../common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;

use common::*;

fn paths_without(missing: &str) -> Vec<&'static str> {
    MINIO_PATHS
        .iter()
        .copied()
        .filter(|p| !p.starts_with(missing))
        .collect()
}

#[test]
fn round_trip_on_every_generation_costs_two_requests_when_the_key_exists() {
    for generation in ALL_GENERATIONS {
        let f = Fixture::new();
        let kes = f.server(generation);
        let cfg = f.start_config(&kes.endpoint());
        assert_eq!(run(&cfg, &["keys"]).status.code(), Some(0));
        let before = kes.requests().len();
        let out = run(&cfg, &["start"]);
        assert_eq!(out.status.code(), Some(0), "{generation:?}: {}", text(&out));
        let after = kes.requests_since(before);
        // (2023-02 proves readiness with a describe; that is the wait's request.)
        let key_ops: Vec<&(String, String)> = after
            .iter()
            .filter(|(_, p)| {
                ["/v1/key/generate/", "/v1/key/decrypt/", "/v1/key/create/"]
                    .iter()
                    .any(|r| p.starts_with(r))
            })
            .collect();
        assert_eq!(
            key_ops,
            [
                &(
                    "POST".to_owned(),
                    "/v1/key/generate/minio-default".to_owned()
                ),
                &(
                    "POST".to_owned(),
                    "/v1/key/decrypt/minio-default".to_owned()
                )
            ],
            "{generation:?}"
        );
    }
}

#[test]
fn missing_generate_or_decrypt_permission_is_named_with_the_policy() {
    for (missing, route) in [
        ("/v1/key/generate", "/v1/key/generate/minio-default"),
        ("/v1/key/decrypt", "/v1/key/decrypt/minio-default"),
    ] {
        let f = Fixture::new();
        let kes = f.server_at(
            Generation::V2024,
            "127.0.0.1:0",
            vec![Policy::new("p", &paths_without(missing), &[IDENTITY])],
        );
        let out = run(&f.start_config(&kes.endpoint()), &["start"]);
        assert_eq!(out.status.code(), Some(77), "{}", text(&out));
        let t = text(&out);
        assert!(
            t.contains(&format!("refused identity {IDENTITY} for {route}"))
                && t.contains(&format!("allow {route}")),
            "{t}"
        );
        assert!(
            t.contains(&format!("    - {missing}/*")),
            "the policy block grants it: {t}"
        );
        assert!(!f.path("minio").exists(), "not ready: nothing rendered");
    }
}

#[test]
fn missing_create_with_the_key_present_is_still_ready() {
    let f = Fixture::new();
    let kes = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![Policy::new(
            "p",
            &paths_without("/v1/key/create"),
            &[IDENTITY],
        )],
    );
    let cfg = f.start_config(&kes.endpoint());
    // Without the key, create is needed and refused, by name.
    let out = run(&cfg, &["start"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    assert!(
        text(&out).contains("allow /v1/key/create/minio-default"),
        "{}",
        text(&out)
    );
    // An administrator creates it (here: kesgate with the create permission
    // for a moment): now ready without the create permission.
    kes.set_policies(vec![minio_policy(IDENTITY)]);
    assert_eq!(run(&cfg, &["keys"]).status.code(), Some(0));
    kes.set_policies(vec![Policy::new(
        "p",
        &paths_without("/v1/key/create"),
        &[IDENTITY],
    )]);
    let before = kes.requests().len();
    let out = run(&cfg, &["start"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !kes.created_since(before),
        "a key that works needs no create"
    );
}

#[test]
fn key_store_that_answers_ready_but_fails_key_operations_is_not_ready() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let cfg = f.start_config(&kes.endpoint());
    // A short retry window ([kes] key_retry_window, 30s by default).
    Fixture::add_kes_setting(&cfg, "key_retry_window = \"2s\"");
    assert_eq!(run(&cfg, &["keys"]).status.code(), Some(0));
    kes.set_fail_key_ops(true);
    let out = run(&cfg, &["start"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("failed /v1/key/generate/minio-default")
            && t.contains("times in 2s")
            && t.contains("HTTP 502"),
        "{t}"
    );
    assert!(!f.path("minio").exists());
}

#[test]
fn method_mismatch_is_named() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let cfg = f.start_config(&kes.endpoint());
    assert_eq!(run(&cfg, &["keys"]).status.code(), Some(0));
    kes.state.put_only.store(true, Ordering::SeqCst);
    let out = run(&cfg, &["start"]);
    assert_eq!(out.status.code(), Some(76), "{}", text(&out));
    assert!(
        text(&out).contains("this KES server expects PUT for it, and MinIO sends POST"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("Method Not Allowed"));
}

/// MinIO describes its default key every 10 s; a policy without describe
/// lets MinIO start (so `start` succeeds) but is told: a warning with its
/// MESSAGE_ID, the STATUS line, and a `status` problem naming the route.
#[test]
fn a_policy_without_describe_is_a_warning_not_a_failure() {
    let f = Fixture::new();
    let kes = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![Policy::new(
            "minio",
            &paths_without("/v1/key/describe"),
            &[IDENTITY],
        )],
    );
    let cfg = f.start_config(&kes.endpoint());
    let notify = NotifySocket::new();
    let out = notify
        .spawn_command(&cfg, "start")
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("/v1/key/describe/minio-default") && t.contains("keep-alive"),
        "{t}"
    );
    assert!(
        t.contains("- /v1/key/describe/*"),
        "the policy line to add: {t}"
    );
    let ready = notify
        .drain()
        .into_iter()
        .find(|m| m.contains("READY=1"))
        .unwrap();
    assert!(
        ready.contains("warning: KES denies MinIO's identity /v1/key/describe/minio-default"),
        "{ready}"
    );
    let out = run(&cfg, &["status", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert!(
        r["problems"]
            .to_string()
            .contains("/v1/key/describe/minio-default"),
        "{r:#}"
    );
    // With describe allowed, no warning.
    kes.set_policies(vec![minio_policy(IDENTITY)]);
    let out = run(&cfg, &["start"]);
    assert!(!text(&out).contains("keep-alive"), "{}", text(&out));
}

/// An empty data key is not a data key: MinIO would encrypt with it. The
/// round trip wants 32 bytes and a ciphertext, else "not KES" (76).
#[test]
fn an_empty_data_key_fails_the_round_trip() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let cfg = f.start_config(&kes.endpoint());
    assert_eq!(run(&cfg, &["keys"]).status.code(), Some(0));
    kes.state.empty_data_keys.store(true, Ordering::SeqCst);
    let out = run(&cfg, &["start"]);
    assert_eq!(out.status.code(), Some(76), "{}", text(&out));
    assert!(
        text(&out).contains("/v1/key/generate/minio-default"),
        "{}",
        text(&out)
    );
    assert!(!f.path("minio").exists(), "nothing rendered");
}

/// Text from a peer is cut and its control characters escaped before it
/// reaches the terminal, STATUS= or the journal.
#[test]
fn a_peers_error_text_is_cut_and_escaped() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2023_05);
    let cfg = f.start_config(&kes.endpoint());
    Fixture::add_kes_setting(&cfg, "key_retry_window = \"2s\"");
    assert_eq!(run(&cfg, &["keys"]).status.code(), Some(0));
    kes.set_fail_key_ops(true);
    *kes.state.error_text.lock().unwrap() = Some(format!("\x1b[2J\x07{}", "y".repeat(60_000)));
    let notify = NotifySocket::new();
    let out = notify
        .spawn_command(&cfg, "start")
        .wait_with_output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(69),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!("{}{}", text(&out), notify.drain().join("\n"));
    assert!(
        !all.contains('\x1b') && !all.contains('\x07'),
        "control characters reached the output"
    );
    assert!(all.contains("\\u{1b}[2J"), "escaped, not dropped");
    let longest = all.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 1000, "a line of {longest} bytes");
}
