//! `kesgate keys`: the default key and every [[keys]] entry, on every KES
//! generation, safe when many hosts run it at once.

#[path = "../../common/mod.rs"]
mod common;

use common::*;

fn keys_config(f: &Fixture, endpoint: &str, wait: &str) -> std::path::PathBuf {
    f.config_plus(
        &[endpoint.to_owned()],
        wait,
        "\n[[keys]]\nname = \"encrypted-bucket-key\"\n\n[[keys]]\nname = \"archive-key\"\n",
    )
}

#[test]
fn creates_missing_keys_and_reports_existing_ones_on_every_generation() {
    for generation in ALL_GENERATIONS {
        let f = Fixture::new();
        let kes = f.server(generation);
        let cfg = keys_config(&f, &kes.endpoint(), "timeout = \"30s\"");
        let out = run(&cfg, &["keys"]);
        assert_eq!(out.status.code(), Some(0), "{generation:?}: {}", text(&out));
        assert!(
            text(&out).contains("3 key(s) present on KES: 3 created, 0 already existed"),
            "{}",
            text(&out)
        );
        let mut keys = kes.keys();
        keys.sort();
        assert_eq!(
            keys,
            ["archive-key", "encrypted-bucket-key", "minio-default"]
        );
        let creates = kes
            .requests()
            .into_iter()
            .filter(|(m, p)| m == "POST" && p.starts_with("/v1/key/create/"))
            .count();
        assert_eq!(creates, 3, "POST, which every generation accepts");
        let out = run(&cfg, &["keys"]);
        assert!(
            text(&out).contains("0 created, 3 already existed"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn forbidden_create_prints_the_policy_and_exits_77() {
    let f = Fixture::new();
    let kes = f.server_at(
        Generation::V2023_05,
        "127.0.0.1:0",
        vec![Policy::new(
            "p",
            &[
                "/v1/ready",
                "/v1/key/create/minio-*",
                "/v1/key/describe/minio-*",
            ],
            &[IDENTITY],
        )],
    );
    let out = run(&keys_config(&f, &kes.endpoint(), ""), &["keys"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("created key minio-default"), "{t}");
    assert!(
        t.contains("allow /v1/key/create/encrypted-bucket-key")
            && t.contains("- /v1/key/create/*")
            && t.contains(IDENTITY),
        "{t}"
    );
}

#[test]
fn sealed_key_store_waits_then_fails_clearly_or_succeeds_after_unseal() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    kes.set_sealed(true);
    let out = run(
        &keys_config(
            &f,
            &kes.endpoint(),
            "timeout = \"1s\"\nmax_interval = \"200ms\"",
        ),
        &["keys"],
    );
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert!(
        text(&out).contains("key store unreachable (sealed?)"),
        "{}",
        text(&out)
    );
    assert!(kes.keys().is_empty());

    let notify = NotifySocket::new();
    let cfg = keys_config(
        &f,
        &kes.endpoint(),
        "timeout = \"0\"\nmax_interval = \"200ms\"",
    );
    let child = notify.spawn_command(&cfg, "keys");
    notify.until("key store unreachable (sealed?)");
    kes.set_sealed(false);
    // 2024+ sees the store back at its next key-store ping.
    kes.ping_now();
    notify.until("READY=1");
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    assert_eq!(kes.keys().len(), 3);
}

#[test]
fn eight_hosts_at_once_create_each_key_once() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let cfg = keys_config(&f, &kes.endpoint(), "timeout = \"30s\"");
    let outs = run_concurrently(&cfg, &["keys"], 8);
    let mut created = 0;
    for out in &outs {
        assert_eq!(out.status.code(), Some(0), "{}", text(out));
        created += text(out).matches("created key ").count();
    }
    assert_eq!(created, 3, "each key created by exactly one run");
    assert_eq!(kes.keys().len(), 3);
}
