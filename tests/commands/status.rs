//! `kesgate status` without a system bus (the units need the real-systemd
//! test, tests/system/status.sh): per endpoint readiness, version, API
//! generation and MinIO's round trip; the env file; keys; exit 0/1/3.

#[path = "../common/mod.rs"]
mod common;

use common::*;

fn status_json(cfg: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    let out = run(cfg, &["status", "--json"]);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    (out.status.code(), v)
}

#[test]
fn every_generation_is_named_and_its_round_trip_shown() {
    for (generation, api) in [
        (Generation::V2024, "2024+"),
        (Generation::V2023_05, "2023-05"),
        (Generation::V2023_02, "2023-02"),
    ] {
        let f = Fixture::new();
        let kes = f.server(generation);
        let cfg = f.start_config(&kes.endpoint());
        assert_eq!(run(&cfg, &["start"]).status.code(), Some(0));
        let before = kes.requests().len();
        let (code, r) = status_json(&cfg);
        // Everything it could see is right; the units it could not see.
        assert_eq!(code, Some(3), "{generation:?}: {r:#}");
        assert_eq!(r["problems"].as_array().unwrap().len(), 0, "{r:#}");
        assert!(
            r["not_seen"][0].as_str().unwrap().contains("no system bus"),
            "{r:#}"
        );
        let e = &r["kes"][0];
        assert_eq!(e["ready"], true, "{r:#}");
        assert_eq!(e["api"], api, "{generation:?}: {r:#}");
        assert_eq!(e["version"], generation.release(), "{r:#}");
        assert_eq!(e["round_trip"], "ok", "{r:#}");
        // To the microsecond: a loopback round trip is never "0".
        assert!(e["round_trip_ms"].as_f64().unwrap() > 0.0, "{r:#}");
        assert_eq!(r["env_file"]["matches"], true, "{r:#}");
        assert_eq!(r["keys"][0]["present"], true, "{r:#}");
        assert_eq!(r["identity"], IDENTITY);
        // Read-only: no create, whatever the generation.
        assert!(!kes.created_since(before));
    }
}

#[test]
fn a_policy_without_decrypt_is_named_per_endpoint() {
    let f = Fixture::new();
    let paths: Vec<&str> = MINIO_PATHS
        .iter()
        .copied()
        .filter(|p| !p.starts_with("/v1/key/decrypt"))
        .collect();
    let kes = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![Policy::new("minio", &paths, &[IDENTITY])],
    );
    let cfg = f.start_config(&kes.endpoint());
    // The key exists (create is allowed); only decrypt is not.
    assert_eq!(run(&cfg, &["keys"]).status.code(), Some(0));
    let (code, r) = status_json(&cfg);
    assert_eq!(code, Some(1), "{r:#}");
    let rt = r["kes"][0]["round_trip"].as_str().unwrap();
    assert!(rt.contains("/v1/key/decrypt/minio-default"), "{rt}");
    let out = run(&cfg, &["status"]);
    let t = text(&out);
    assert!(t.starts_with("kesgate status: NOT OK: "), "{t}");
    assert!(t.contains("round trip"), "{t}");
}

#[test]
fn a_sealed_key_store_and_a_drifted_env_file_are_problems() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let cfg = f.start_config(&kes.endpoint());
    assert_eq!(run(&cfg, &["start"]).status.code(), Some(0));
    kes.set_sealed(true);
    let env = f.path("minio");
    let text_before = std::fs::read_to_string(&env).unwrap();
    std::fs::write(
        &env,
        text_before.replace(
            "MINIO_KMS_KES_KEY_NAME=\"minio-default\"",
            "MINIO_KMS_KES_KEY_NAME=other",
        ),
    )
    .unwrap();
    let (code, r) = status_json(&cfg);
    assert_eq!(code, Some(1), "{r:#}");
    let problems = r["problems"].to_string();
    assert!(problems.contains("key store unreachable"), "{problems}");
    assert!(problems.contains("MINIO_KMS_KES_KEY_NAME"), "{problems}");
    assert_eq!(r["kes"][0]["ready"], false);
    assert_eq!(r["env_file"]["matches"], false);
    // Status changes nothing.
    assert!(
        std::fs::read_to_string(&env)
            .unwrap()
            .contains("KEY_NAME=other")
    );
}

/// A KES server certificate that expires in 10 days is a warning of its
/// own: `status` exits 2 (not 0, not 1, not 3), says so once with the
/// date and the fix, shows the certificate's NotAfter per endpoint;
/// `--nagios` prints one WARNING line with perfdata and exits 1. Beyond
/// `[watch] warn_before` the same certificate is no warning.
#[test]
fn a_certificate_expiring_within_warn_before_is_a_warning_of_its_own() {
    let f = Fixture::new();
    let (cert, not_after) = f.ca.server_cert_expiring(&["localhost", "127.0.0.1"], 10);
    let kes = Server::start(Config {
        cert,
        ..f.kes_config(Generation::V2024)
    });
    let cfg = f.start_config(&kes.endpoint());
    // `start` says so (a warning of its own) and never blocks on it.
    let start = run(&cfg, &["start"]);
    assert_exit(&start, 0);
    let said = text(&start);
    assert!(
        said.contains("the server certificate \"CN=kes-test-server\" expires at"),
        "{said}"
    );
    assert!(said.contains("fix: renew it"), "{said}");

    let (code, r) = status_json(&cfg);
    assert_eq!(code, Some(2), "{r:#}");
    let warnings = r["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{r:#}");
    let w = warnings[0].as_str().unwrap();
    assert!(w.contains("server certificate"), "{w}");
    assert!(
        w.contains("expires in 9 days") || w.contains("expires in 10 days"),
        "{w}"
    );
    assert!(w.contains("fix:"), "{w}");
    let e = &r["kes"][0];
    assert_eq!(e["earliest_expiry"], not_after, "{r:#}");
    let server = e["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "server")
        .expect("the server certificate");
    assert_eq!(server["not_after"], not_after);

    let out = run(&cfg, &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kesgate status: WARNING: "));

    let out = run(&cfg, &["status", "--nagios"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("KESGATE WARNING - "), "{line}");
    assert!(
        line.contains("| kes_ready=1;;;0;1 cert_days_left="),
        "{line}"
    );

    // The same in Prometheus' text format: promtool's lint passes, and the
    // certificate's metric is its NotAfter.
    let out = run(&cfg, &["status", "--prometheus"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let metrics = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = format!(
        "kesgate_certificate_not_after_timestamp_seconds{{endpoint=\"{}\",role=\"server\",subject=\"CN=kes-test-server\"}} {not_after}",
        kes.endpoint()
    );
    assert!(metrics.contains(&line), "{line}\n{metrics}");
    assert!(
        metrics.contains(&format!(
            "kesgate_kes_ready{{endpoint=\"{}\"}} 1",
            kes.endpoint()
        )),
        "{metrics}"
    );
    assert!(metrics.contains("kesgate_keys_missing 0"), "{metrics}");
    assert!(!metrics.contains(&API_KEY[7..]), "{metrics}");
    promtool_check(&metrics);

    // Beyond warn_before: no warning (and the units not seen: 3).
    Fixture::add_kes_setting(&cfg, "");
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text_cfg}\n[watch]\nwarn_before = \"5d\"\n")).unwrap();
    let (code, r) = status_json(&cfg);
    assert_eq!(code, Some(3), "{r:#}");
    assert!(r["warnings"].as_array().unwrap().is_empty(), "{r:#}");
    let out = run(&cfg, &["status", "--nagios"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

/// The fleet fingerprint (status, --json, --prometheus): the same MINIO_*
/// set gives the same value on two hosts; a managed value that differs
/// gives another; a skipped one (MINIO_ROOT_PASSWORD) does not count; it
/// is keyed by the cluster's API key, so it is no plain hash of the values.
#[test]
fn the_fleet_fingerprint_finds_the_odd_node_out_and_reveals_nothing() {
    let host = |env: &str, key: &str| {
        let f = Fixture::new();
        f.write_secret("kes-api-key", key);
        let cfg = f.config_plus(
            &["https://localhost:1".to_owned()],
            "timeout = \"1s\"\nkes_unit = \"\"",
            "[env_file]\npath = \"minio\"\n",
        );
        std::fs::write(f.path("minio"), env).unwrap();
        let (_, r) = status_json(&cfg);
        let prometheus =
            String::from_utf8_lossy(&run(&cfg, &["status", "--prometheus"]).stdout).into_owned();
        (f, r["fingerprint"].as_str().map(str::to_owned), prometheus)
    };
    let env = |endpoint: &str, password: &str| {
        format!(
            "MINIO_VOLUMES=\"https://minio{{1...4}}:9000/data\"\nMINIO_ROOT_PASSWORD={password}\nMINIO_KMS_KES_ENDPOINT={endpoint}\nMINIO_KMS_KES_KEY_NAME=minio-default\n"
        )
    };
    let (_a, one, prom) = host(&env("https://kes:7373", "pw-one"), API_KEY);
    let one = one.expect("a fingerprint");
    assert!(
        prom.contains(&format!(
            "kesgate_minio_env_info{{fingerprint=\"{one}\"}} 1"
        )),
        "{prom}"
    );
    let (_b, two, _) = host(&env("https://kes:7373", "pw-two"), API_KEY);
    assert_eq!(
        two.as_deref(),
        Some(one.as_str()),
        "only a skipped value differs"
    );
    let (_c, three, _) = host(&env("https://kes2:7373", "pw-one"), API_KEY);
    assert_ne!(
        three.as_deref(),
        Some(one.as_str()),
        "a managed value differs"
    );
    let (_d, other_key, _) = host(&env("https://kes:7373", "pw-one"), OTHER_KEY);
    assert_ne!(
        other_key.as_deref(),
        Some(one.as_str()),
        "keyed by the cluster's key"
    );
    assert!(!one.contains("pw-one") && one.len() == 32, "{one}");
}

/// On a node of a distributed MinIO, a value kesgate renders that names
/// this host makes the node's MINIO_* set differ from its peers' by
/// configuration alone: a warning with the variable and the fix. One node
/// alone compares nothing: no warning.
#[test]
fn a_rendered_value_naming_this_host_is_a_warning_on_a_cluster_node() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    for (volumes, warned) in [
        ("https://minio{1...4}.example.net/data", true),
        ("/var/lib/minio", false),
    ] {
        let f = Fixture::new();
        let kes = f.server(Generation::V2024);
        std::fs::write(f.path("minio"), format!("MINIO_VOLUMES=\"{volumes}\"\n")).unwrap();
        let cfg = f.start_config(&kes.endpoint());
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(
            &cfg,
            format!(
                "{text}\n[env_file.set]\nMINIO_SERVER_URL = \"https://{host}.example.net:9000\"\n"
            ),
        )
        .unwrap();
        assert_exit(&run(&cfg, &["start"]), 0);
        let (_, r) = status_json(&cfg);
        let warnings = r["warnings"].to_string();
        let names = host.len() >= 2 && host != "localhost";
        assert_eq!(
            warnings.contains("MINIO_SERVER_URL, as kesgate renders it, names this host"),
            warned && names,
            "{volumes}: {r:#}"
        );
        if warned && names {
            assert!(
                warnings.contains("fix: give it the same value on every node"),
                "{warnings}"
            );
        }
    }
}

/// The default key's presence comes from MinIO's round trip (a 404 on
/// generate: missing), with no describe of its own; other keys are each
/// described.
#[test]
fn a_missing_default_key_is_told_from_the_round_trip_alone() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let cfg = f.start_config(&kes.endpoint());
    let before = kes.requests().len();
    let (code, r) = status_json(&cfg);
    assert_eq!(code, Some(1), "{r:#}");
    assert_eq!(r["keys"][0]["present"], false, "{r:#}");
    assert!(
        r["problems"]
            .to_string()
            .contains("key minio-default is missing"),
        "{r:#}"
    );
    let describes = kes
        .requests_since(before)
        .iter()
        .filter(|(_, p)| p == "/v1/key/describe/minio-default")
        .count();
    assert_eq!(describes, 0, "the round trip already told");
}

/// A four-endpoint cluster with KES down fits a screen: at most 24 lines
/// of at most 100 characters, the endpoints' shared state said once (not
/// once per endpoint, and not again in the verdict), every problem with
/// its fix on a line of its own.
#[test]
fn kes_down_on_four_endpoints_fits_a_screen_with_every_fix() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let cfg = f.start_config(&kes.endpoint());
    assert_eq!(run(&cfg, &["start"]).status.code(), Some(0));
    // Four endpoints on ports nothing listens on (bound, then released).
    let ports: Vec<u16> = (0..4)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let endpoints: Vec<String> = ports
        .iter()
        .map(|p| format!("\"https://127.0.0.1:{p}\""))
        .collect();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let old = text
        .lines()
        .find(|l| l.starts_with("endpoints = "))
        .unwrap()
        .to_owned();
    std::fs::write(
        &cfg,
        text.replace(&old, &format!("endpoints = [{}]", endpoints.join(", "))),
    )
    .unwrap();
    // MinIO's env file names them: only KES is down.
    assert_eq!(run(&cfg, &["render"]).status.code(), Some(0));
    let out = kesgate_for(&cfg)
        .arg("status")
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines.len() <= 24, "{} lines:\n{shown}", lines.len());
    for l in &lines {
        assert!(l.chars().count() <= 100, "wider than 100: {l:?}\n{shown}");
    }
    assert_eq!(shown.matches("Connection refused").count(), 1, "{shown}");
    assert!(shown.contains("all 4 endpoints"), "{shown}");
    let problems: Vec<&str> = shown
        .split("\nproblems:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .split("\n  - ")
        .collect();
    for p in &problems {
        assert!(
            p.contains("\n    fix: "),
            "a problem without its fix: {p}\n{shown}"
        );
    }
}

/// The fingerprint covers the file MinIO reads itself
/// (MINIO_CONFIG_ENV_FILE): a value there that differs gives another
/// fingerprint, the same values the same — status reads MinIO's files once
/// and takes both the env file's verdict and the fingerprint from that read.
#[test]
fn the_fleet_fingerprint_covers_the_file_minio_reads_itself() {
    let f = Fixture::new();
    let cfg = f.config_plus(
        &["https://localhost:1".to_owned()],
        "timeout = \"1s\"\nkes_unit = \"\"",
        "[env_file]\npath = \"minio\"\n",
    );
    let own = f.path("minio.env");
    std::fs::write(
        f.path("minio"),
        format!("MINIO_CONFIG_ENV_FILE={}\n", own.display()),
    )
    .unwrap();
    let fingerprint = |class: &str| {
        std::fs::write(
            &own,
            format!("MINIO_VOLUMES=\"https://minio{{1...4}}:9000/data\"\nMINIO_STORAGE_CLASS_STANDARD={class}\n"),
        )
        .unwrap();
        let (_, r) = status_json(&cfg);
        assert!(
            r["env_file"]["read_by"]
                .as_str()
                .unwrap()
                .starts_with("MinIO"),
            "{r:#}"
        );
        r["fingerprint"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("a fingerprint: {r:#}"))
    };
    let one = fingerprint("EC:2");
    assert_eq!(fingerprint("EC:2"), one);
    assert_ne!(
        fingerprint("EC:3"),
        one,
        "a value in MinIO's own file counts"
    );
}
