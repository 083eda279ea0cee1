//! Goldens: what `status` prints (text, `--json`, `--nagios`,
//! `--prometheus`) and what a `watch` round tells, over the scenarios an
//! operator meets — healthy, a sealed key store, a policy refusal, an
//! untrusted server, a peer that is not KES, an expiring certificate, a
//! broken configuration, a cluster node. What varies from run to run (ports,
//! temp directories, times, durations, the fleet MAC) is replaced by a
//! placeholder; everything else is pinned byte for byte in tests/golden/.
//! A difference fails with both texts; `KESGATE_BLESS=1` rewrites the files
//! (review the diff: every golden change is a named change of behaviour).

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use kes_test_server::hostile::{Handshake, Hostile, Reply};

/// One scenario's host: the fixture, what must live while it is looked at
/// (servers), its configuration.
struct Scene {
    f: Fixture,
    _kes: Option<Server>,
    _peer: Option<Hostile>,
    config: PathBuf,
}

/// A scene around a KES test server; `started`: kesgate's `start` ran.
fn with_kes(f: Fixture, kes: Server, started: bool) -> Scene {
    let config = f.start_config(&kes.endpoint());
    if started {
        assert_exit(&run(&config, &["start"]), 0);
    }
    Scene {
        f,
        _kes: Some(kes),
        _peer: None,
        config,
    }
}

fn healthy() -> Scene {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    with_kes(f, kes, true)
}

fn sealed() -> Scene {
    let s = healthy();
    s._kes.as_ref().unwrap().set_sealed(true);
    s
}

fn forbidden() -> Scene {
    let f = Fixture::new();
    let kes = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![minio_policy(&"0".repeat(64))],
    );
    with_kes(f, kes, false)
}

fn untrusted() -> Scene {
    let f = Fixture::new();
    let other = TestCa::new("another-ca");
    let kes = Server::start(Config {
        cert: other.server_cert(&["localhost", "127.0.0.1"]),
        ..f.kes_config(Generation::V2024)
    });
    with_kes(f, kes, false)
}

fn not_kes() -> Scene {
    let f = Fixture::new();
    let peer = Hostile::start(
        &f.ca.server_cert(&["localhost"]),
        Handshake::Tls,
        Arc::new(|_, _| Reply::status(200, "application/json", "{}")),
    );
    let config = f.start_config(&peer.endpoint());
    Scene {
        f,
        _kes: None,
        _peer: Some(peer),
        config,
    }
}

fn expiring() -> Scene {
    let f = Fixture::new();
    let (cert, _) = f.ca.server_cert_expiring(&["localhost", "127.0.0.1"], 10);
    let kes = Server::start(Config {
        cert,
        ..f.kes_config(Generation::V2024)
    });
    with_kes(f, kes, true)
}

fn broken_config() -> Scene {
    let f = Fixture::new();
    let config = f.path("kesgate.toml");
    std::fs::write(&config, "[kes]\nendpoints = [\"https://localhost:1\"\n").unwrap();
    Scene {
        f,
        _kes: None,
        _peer: None,
        config,
    }
}

fn cluster_node() -> Scene {
    let s = healthy();
    let env = s.f.path("minio");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(
        &env,
        format!("MINIO_VOLUMES=\"https://minio{{1...4}}.example.net:9000/data\"\n{text}"),
    )
    .unwrap();
    s
}

/// A scenario: its name (the golden files' stem) and how it is made.
type Scenario = (&'static str, fn() -> Scene);

const SCENES: [Scenario; 8] = [
    ("healthy", healthy),
    ("sealed", sealed),
    ("forbidden", forbidden),
    ("untrusted", untrusted),
    ("not-kes", not_kes),
    ("expiring", expiring),
    ("broken-config", broken_config),
    ("cluster-node", cluster_node),
];

const FORMATS: [(&str, &[&str]); 4] = [
    ("text", &["status"]),
    ("json", &["status", "--json"]),
    ("nagios", &["status", "--nagios"]),
    ("prometheus", &["status", "--prometheus"]),
];

/// What varies between runs, replaced by placeholders; the rest is kept.
fn normalize(text: &str, dir: &Path) -> String {
    use regex::Regex;
    let dir = dir.display().to_string();
    let mut t = text.replace(&dir, "<dir>");
    let rules: &[(&str, &str)] = &[
        // Ports the OS picked.
        (r"(localhost|127\.0\.0\.1|\[::1\]):\d+", "$1:<port>"),
        // Dates and times.
        (
            r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z| UTC|[+-]\d\d:?\d\d)?",
            "<time>",
        ),
        // Durations as kesgate prints them (latency, waits).
        (r"\b\d+(\.\d+)?\s?(ms|µs|us|ns)\b", "<dur>"),
        (r"\b(\d+(\.\d+)?s ?)?\d+(\.\d+)?ms\b", "<dur>"),
        // Unix times and second counts in metrics and JSON.
        (r"\b1\d{9}(\.\d+)?\b", "<unix>"),
        // Days left on a certificate: counted from today.
        (r"\b\d+ days\b", "<days> days"),
        (r"cert_days_left=\d+", "cert_days_left=<days>"),
        (r#""days_left": ?\d+"#, "\"days_left\": <days>"),
        // The fleet MAC (keyed, and the values it covers hold the port).
        (r"\b[0-9a-f]{32}\b", "<hex32>"),
        // Metric values that are durations.
        (
            r"(kesgate_kes_round_trip_seconds\{[^}]*\}) \S+",
            "$1 <seconds>",
        ),
        (
            r#""(latency_ms|round_trip_ms|waited_ms)": ?[\d.]+"#,
            "\"$1\": <ms>",
        ),
        (r"temp dir \S+", "temp dir <tmp>"),
    ];
    for (pattern, with) in rules {
        t = Regex::new(pattern)
            .unwrap()
            .replace_all(&t, *with)
            .into_owned();
    }
    t
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/status")
}

/// Compares (or, with KESGATE_BLESS=1, writes) one golden file.
fn check(name: &str, got: &str, failures: &mut Vec<String>) {
    let path = golden_dir().join(name);
    if std::env::var_os("KESGATE_BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with KESGATE_BLESS=1 to record it",
            path.display()
        )
    });
    if want != got {
        failures.push(format!(
            "{}\n--- golden\n{want}\n--- now\n{got}",
            path.display()
        ));
    }
}

#[test]
fn status_outputs_are_pinned_over_the_scenarios() {
    let mut failures = Vec::new();
    for (name, make) in SCENES {
        let scene = make();
        for (format, args) in FORMATS {
            // Unwrapped: where a line wraps depends on the lengths of what
            // the normalizer replaces (ports, durations). The wrapping has
            // its own test (status.rs).
            let out = kesgate_for(&scene.config)
                .args(args)
                .env("COLUMNS", "1000")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let got = format!(
                "exit {}\n{}",
                out.status.code().map_or("signal".into(), |c| c.to_string()),
                normalize(&stdout, scene.f.dir.path())
            );
            check(&format!("{name}.{format}"), &got, &mut failures);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A `watch` round over each scenario, twice: what each told (the lines a
/// terminal shows of the journal entries, MESSAGE_IDs and fields aside) and
/// the metrics file the first wrote. The second round must be quiet where
/// nothing changed.
#[test]
fn watch_rounds_are_pinned_over_the_scenarios() {
    let mut failures = Vec::new();
    for (name, make) in SCENES {
        let scene = make();
        let file = scene.f.path("kesgate.prom");
        let text = std::fs::read_to_string(&scene.config).unwrap();
        std::fs::write(
            &scene.config,
            format!("{text}\n[watch]\ntextfile = \"{}\"\n", file.display()),
        )
        .unwrap();
        // The metrics file a configuration that does not load falls back
        // to is the one the last round wrote: this test's, never the
        // host's default.
        let (_, state) = dirs_for(&scene.config);
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(
            state.join("watch.json"),
            format!(
                "{{\"told\": {{}}, \"vault_back_at\": null, \"textfile_path\": \"{}\"}}",
                file.display()
            ),
        )
        .unwrap();
        let mut got = String::new();
        for n in 1..=2 {
            let out = run_bounded(&scene.config, &["watch"], &[]);
            got.push_str(&format!(
                "round {n}: exit {}\n{}",
                out.status.code().map_or("signal".into(), |c| c.to_string()),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let metrics = std::fs::read_to_string(&file).unwrap_or_else(|e| format!("({e})\n"));
        got.push_str(&format!("metrics file:\n{metrics}"));
        check(
            &format!("{name}.watch"),
            &normalize(&got, scene.f.dir.path()),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_normalizer_keeps_what_matters() {
    let dir = Path::new("/tmp/x");
    let t = normalize(
        "KES https://127.0.0.1:40123 at /tmp/x/kesgate.toml, ready in 3ms, 2026-12-06T20:00:00Z, not 77",
        dir,
    );
    assert_eq!(
        t,
        "KES https://127.0.0.1:<port> at <dir>/kesgate.toml, ready in <dur>, <time>, not 77"
    );
}
