//! `kesgate start`: wait, make sure the default key exists, render.

#[path = "../common/mod.rs"]
mod common;

use std::fs;

use common::*;

#[test]
fn creates_the_default_key_once_and_renders_on_every_generation() {
    for generation in ALL_GENERATIONS {
        let f = Fixture::new();
        let kes = f.server(generation);
        let cfg = f.start_config(&kes.endpoint());
        let out = run(&cfg, &["start"]);
        assert_eq!(out.status.code(), Some(0), "{generation:?}: {}", text(&out));
        assert!(
            text(&out).contains("created key minio-default"),
            "{}",
            text(&out)
        );
        assert_eq!(kes.keys(), ["minio-default"]);
        let env = fs::read_to_string(f.path("minio")).unwrap();
        assert!(
            env.contains("MINIO_KMS_KES_KEY_NAME=\"minio-default\""),
            "{env}"
        );
        // KES 2023 accepts only POST; kesgate sends POST to every generation.
        assert!(
            kes.requests()
                .contains(&("POST".into(), "/v1/key/create/minio-default".into()))
        );
        // A second start: the key works (generate first, as MinIO does), so
        // no create at all; the file is unchanged.
        let before = kes.requests().len();
        let out = run(&cfg, &["start"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out).contains("already matches"), "{}", text(&out));
        assert!(
            !kes.created_since(before),
            "a key that works needs no create"
        );
    }
}

#[test]
fn legacy_exists_text_is_success() {
    let f = Fixture::new();
    let kes = Server::start(Config {
        legacy_texts: true,
        ..f.kes_config(Generation::V2023_02)
    });
    let cfg = f.start_config(&kes.endpoint());
    assert_eq!(run(&cfg, &["start"]).status.code(), Some(0));
    // `keys` creates unconditionally: the legacy "key does already exist" is success.
    let out = run(&cfg, &["keys"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("key minio-default already exists"),
        "{}",
        text(&out)
    );
}

#[test]
fn create_denied_names_the_route_and_writes_nothing() {
    let f = Fixture::new();
    let kes = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![Policy::new(
            "p",
            &[
                "/v1/ready",
                "/v1/key/describe/*",
                "/v1/key/generate/*",
                "/v1/key/decrypt/*",
            ],
            &[IDENTITY],
        )],
    );
    let out = run(&f.start_config(&kes.endpoint()), &["start"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    assert!(
        text(&out).contains("allow /v1/key/create/minio-default") && text(&out).contains(IDENTITY),
        "{}",
        text(&out)
    );
    assert!(
        !f.path("minio").exists(),
        "nothing rendered before the key exists"
    );
}

#[test]
fn concurrent_starts_all_succeed_with_one_key() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let cfg = f.start_config(&kes.endpoint());
    for out in run_concurrently(&cfg, &["start"], 8) {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    assert_eq!(kes.keys(), ["minio-default"]);
}

/// KES 2023-05 answers /v1/ready with 200 right after its Vault is
/// unsealed but fails key operations with 502 until its next key-store
/// health check: `start` must not call that ready (the fresh probe is 502
/// too) and must not give up (MinIO would exit on the 502).
#[test]
fn the_2023_05_lag_after_an_unseal_is_ridden_out() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2023_05);
    let cfg = f.start_config(&kes.endpoint());
    kes.set_sealed(true);
    kes.set_sealed(false);
    let notify = NotifySocket::new();
    let child = notify.spawn_command(&cfg, "start");
    // Not ready while KES has not looked at its store again.
    notify.until("key store");
    kes.ping_now();
    let (out, _) = notify.collect(child);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let paths: Vec<String> = kes.requests().into_iter().map(|(_, p)| p).collect();
    let first_generate = paths
        .iter()
        .position(|p| p.starts_with("/v1/key/generate/"))
        .expect("a generate");
    assert!(
        paths[..first_generate]
            .iter()
            .any(|p| p.starts_with("/v1/key/describe/")),
        "the fresh probe came before MinIO's calls: {paths:?}"
    );
    assert!(
        std::fs::read_to_string(f.path("minio"))
            .unwrap()
            .contains("MINIO_KMS_KES_KEY_NAME")
    );
}
