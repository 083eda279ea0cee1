//! Ready must be true (docs/facts.md, "KES releases"): KES's key cache, `skip_auth` on
//! `/v1/ready`, a server answering 200 to everything, a policy that allows
//! describe of the exact default key only, and KES's key-store health
//! check after an unseal. Each test shows the answer the old readiness
//! signal would have believed, so that it can fail.

#[path = "../../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use kes_test_server::OpenBao;
use kes_test_server::hostile::{Handshake, Hostile, Reply};

const PROBE: &str = "/v1/key/describe/minio-default-kesgate-absent-probe";

#[test]
fn a_cached_default_key_never_makes_a_sealed_key_store_ready() {
    for generation in ALL_GENERATIONS {
        let f = Fixture::new();
        let kes = f.server(generation);
        let cfg = f.short_wait(&kes.endpoint());
        // MinIO's round trip puts the default key into KES's cache.
        assert_exit(&run(&cfg, &["start"]), 0);
        kes.set_sealed(true);
        // What a describe of the default key would see now: the cache.
        assert!(
            kes.state.cached("minio-default").is_some(),
            "{generation:?}: the default key is cached, so describing it proves nothing"
        );
        for command in ["wait", "start"] {
            let out = run(&cfg, &[command]);
            assert_exit(&out, 69);
            assert!(
                text(&out).contains("key store unreachable (sealed?)"),
                "{generation:?} {command}: {}",
                text(&out)
            );
        }
    }
}

#[test]
fn skip_auth_ready_for_an_identity_no_policy_names_is_not_ready() {
    for generation in [Generation::V2023_05, Generation::V2024] {
        let f = Fixture::new();
        let kes = Server::start(Config {
            policies: vec![minio_policy(&"0".repeat(64))],
            skip_auth: vec!["/v1/ready".into()],
            ..f.kes_config(generation)
        });
        let out = run(&f.short_wait(&kes.endpoint()), &["wait"]);
        assert_exit(&out, 77);
        let t = text(&out);
        assert!(t.contains(IDENTITY) && t.contains("policy:"), "{t}");
        let paths: Vec<String> = kes.requests().into_iter().map(|(_, p)| p).collect();
        // /v1/ready said 200 to a stranger: only the probe told the truth.
        assert_eq!(paths[0], "/v1/ready");
        assert!(paths.contains(&PROBE.to_owned()), "{paths:?}");
    }
}

#[test]
fn a_server_answering_200_to_everything_is_not_kes() {
    let f = Fixture::new();
    for body in ["", "{}", r#"{"name":"minio-default"}"#] {
        let peer = Hostile::start(
            &f.ca.server_cert(&["localhost"]),
            Handshake::Tls,
            Arc::new(move |_, _| Reply::status(200, "application/json", body)),
        );
        let out = run_guarded(
            kesgate()
                .arg("--config")
                .arg(f.short_wait(&peer.endpoint()))
                .arg("wait"),
        );
        assert_exit(&out, 76);
        assert!(
            text(&out).contains("does not answer like KES"),
            "{}",
            text(&out)
        );
    }
}

/// MinIO's paths for the exact default key only: the absent-key probe is
/// not allowed, so a ready's freshness is unproven.
fn narrow_policy() -> Policy {
    Policy::new(
        "minio",
        &[
            "/v1/ready",
            "/v1/status",
            "/v1/key/create/minio-default",
            "/v1/key/describe/minio-default",
            "/v1/key/generate/minio-default",
            "/v1/key/decrypt/minio-default",
        ],
        &[IDENTITY],
    )
}

#[test]
fn describe_of_the_exact_default_key_only_is_ready_with_freshness_unproven() {
    for generation in ALL_GENERATIONS {
        let f = Fixture::new();
        let narrow = narrow_policy();
        let kes = f.server_at(generation, "127.0.0.1:0", vec![narrow]);
        let cfg = f.short_wait(&kes.endpoint());
        // No default key yet: its 404 is fresh (KES caches no absence).
        let out = run(&cfg, &["start"]);
        assert_exit(&out, 0);
        assert!(!text(&out).contains("unproven"), "{}", text(&out));
        // Now it exists, and KES may answer it from its cache.
        let notify = NotifySocket::new();
        let (out, seen) = notify.collect(notify.spawn_command(&cfg, "start"));
        assert_exit(&out, 0);
        let t = text(&out);
        let line = format!("add `{PROBE}` to the allow list");
        assert!(t.contains("freshness unproven") && t.contains(&line), "{t}");
        assert!(
            seen.iter()
                .any(|m| m.starts_with("READY=1") && m.contains("freshness unproven")),
            "{generation:?}: {seen:?}"
        );
        // Once in the log, not once per probe.
        assert_eq!(t.matches("freshness unproven").count(), 1, "{t}");
        // `status` says the same, as something it could not see.
        let out = run(&cfg, &["status", "--json"]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let not_seen = r["not_seen"].to_string();
        assert!(not_seen.contains(&line), "{r}");
        assert!(r["kes"][0]["unproven"].is_string(), "{r}");
        let out = run(&cfg, &["status"]);
        assert!(text(&out).contains(&line), "{}", text(&out));
    }
}

#[test]
fn after_an_unseal_nothing_is_ready_before_kes_health_check() {
    // KES's health check every 20 s: twice the default, which a 10 s
    // retry window used to miss. The probe holds the wait until KES looks.
    let threads: Vec<_> = ALL_GENERATIONS
        .into_iter()
        .map(|generation| {
            std::thread::spawn(move || {
                let f = Fixture::new();
                let kes = Server::start(Config {
                    ping_interval: Duration::from_secs(20),
                    ..f.kes_config(generation)
                });
                let cfg = f.config_plus(
                    &[kes.endpoint()],
                    "timeout = \"60s\"\nmax_interval = \"500ms\"\nkes_unit = \"\"",
                    "[env_file]\npath = \"minio\"\n",
                );
                kes.set_sealed(true);
                kes.set_sealed(false);
                let out = run(&cfg, &["start"]);
                assert_exit(&out, 0);
                let paths: Vec<String> = kes.requests().into_iter().map(|(_, p)| p).collect();
                let first_key_op = paths
                    .iter()
                    .position(|p| p.starts_with("/v1/key/generate/"))
                    .unwrap();
                assert!(
                    kes.state.pings.load(std::sync::atomic::Ordering::SeqCst) >= 1,
                    "{generation:?}"
                );
                // Not one key operation failed: ready came after the check,
                // and MinIO's calls ran once each.
                assert_eq!(
                    paths[first_key_op..],
                    [
                        "/v1/key/generate/minio-default",
                        "/v1/key/create/minio-default",
                        "/v1/key/generate/minio-default",
                        "/v1/key/decrypt/minio-default",
                        "/v1/key/describe/minio-default",
                    ],
                    "{generation:?}"
                );
                assert!(paths[..first_key_op].contains(&PROBE.to_owned()));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn key_operations_failing_with_an_unsealed_vault_blame_kes_health_check_not_vault_policy() {
    let f = Fixture::new();
    let bao = OpenBao::start_sealed(f.dir.path());
    bao.unseal();
    let kes = f.server(Generation::V2024);
    kes.set_fail_key_ops(true);
    let cfg = f.config_plus(
        &[kes.endpoint()],
        "timeout = \"5s\"\nkes_unit = \"\"",
        &format!(
            "[env_file]\npath = \"minio\"\n\n[vault]\naddress = \"{}\"\n",
            bao.addr
        ),
    );
    Fixture::add_kes_setting(&cfg, "key_retry_window = \"1s\"");
    let out = run(&cfg, &["start"]);
    assert_exit(&out, 69);
    let t = text(&out);
    assert!(
        t.contains("is unsealed and active, so KES has not yet seen it back")
            && t.contains("key_retry_window"),
        "{t}"
    );
    assert!(!t.contains("policy, mount"), "{t}");
    // Without [vault]: the health check first, then the key store.
    let plain = f.config_plus(
        &[kes.endpoint()],
        "timeout = \"5s\"\nkes_unit = \"\"",
        "[env_file]\npath = \"minio\"\n",
    );
    Fixture::add_kes_setting(&plain, "key_retry_window = \"1s\"");
    let t = text(&run(&plain, &["start"]));
    assert!(t.contains("until its next key-store health check"), "{t}");
}

#[test]
fn key_retry_window_is_checked_at_load_and_says_its_default() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let bad = f.config_plus(&[kes.endpoint()], "", "");
    Fixture::add_kes_setting(&bad, "key_retry_window = \"0s\"");
    let out = run(&bad, &["wait"]);
    assert_exit(&out, 78);
    assert!(
        text(&out).contains("key_retry_window") && text(&out).contains("the default is 30s"),
        "{}",
        text(&out)
    );
}

/// 2023-02, a policy that allows describe of the default key only (the
/// absent-key probe is refused: freshness unproven), a cached key that
/// answers while the key store is sealed: with `[vault]` configured, the
/// Vault's sealed answer is the fresh signal the probe could not give — not
/// ready. Without `[vault]` there is no such signal: ready, unproven, said.
#[test]
fn an_unproven_ready_with_a_sealed_vault_is_not_ready() {
    let f = Fixture::new();
    let bao = OpenBao::start_sealed(f.dir.path());
    let narrow = narrow_policy();
    let kes = f.server_at(Generation::V2023_02, "127.0.0.1:0", vec![narrow]);
    let plain = f.short_wait(&kes.endpoint());
    assert_exit(&run(&plain, &["start"]), 0);
    kes.set_sealed(true);
    assert!(kes.state.cached("minio-default").is_some());
    // The old answer: ready, freshness unproven.
    let out = run(&plain, &["wait"]);
    assert_exit(&out, 0);
    assert!(text(&out).contains("freshness unproven"), "{}", text(&out));
    let with_vault = f.config_plus(
        &[kes.endpoint()],
        "timeout = \"2s\"\nmax_interval = \"200ms\"\nkes_unit = \"\"",
        &format!(
            "[env_file]\npath = \"minio\"\n\n[vault]\naddress = \"{}\"\n",
            bao.addr
        ),
    );
    for command in ["wait", "start"] {
        let out = run(&with_vault, &[command]);
        assert_exit(&out, 69);
        let t = text(&out);
        assert!(
            t.contains("answers from its cache (freshness unproven)") && t.contains("is sealed"),
            "{command}: {t}"
        );
    }
    // Unsealed (and KES's store with it): ready again.
    bao.unseal();
    kes.set_sealed(false);
    assert_exit(&run(&with_vault, &["wait"]), 0);
}
