//! `kesgate identity`: byte-exact with KES, from keys and certificates.

#[path = "../common/mod.rs"]
mod common;

use common::*;

fn last_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn of_the_kms_go_test_vector_from_stdin_file_and_argv() {
    assert_eq!(
        last_line(&identity_of_stdin(&format!("{API_KEY}\n"))),
        IDENTITY
    );

    let f = Fixture::new();
    let out = kesgate()
        .args(["identity", "of", "--file"])
        .arg(f.path("kes-api-key"))
        .output()
        .unwrap();
    assert_eq!(last_line(&out), IDENTITY);

    let out = kesgate()
        .args(["identity", "of", API_KEY])
        .output()
        .unwrap();
    assert_eq!(last_line(&out), IDENTITY);
    assert!(String::from_utf8_lossy(&out.stderr).contains("visible to other local users"));
}

#[test]
fn new_key_with_policy_is_consistent() {
    let out = kesgate()
        .args(["identity", "new", "--policy", "minio"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().find(|l| l.starts_with("kes:v1:")).unwrap();
    let identity = stdout.lines().last().unwrap();
    for path in MINIO_PATHS {
        assert!(stdout.contains(&format!("    - {path}\n")), "{stdout}");
    }
    assert!(
        stdout.contains(&format!("    identities:\n    - {identity}\n")),
        "{stdout}"
    );
    let out = kesgate().args(["identity", "of", key]).output().unwrap();
    assert_eq!(last_line(&out), identity);
}

#[test]
fn new_keys_differ() {
    let a = kesgate().args(["identity", "new"]).output().unwrap();
    let b = kesgate().args(["identity", "new"]).output().unwrap();
    assert_ne!(last_line(&a), last_line(&b));
}

#[test]
fn bad_input_is_refused_without_echo() {
    let out = kesgate()
        .args(["identity", "of", "kes:v1:c2VjcmV0LWJ1dC13cm9uZw=="])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let t = text(&out);
    assert!(
        t.contains("invalid length") && !t.contains("c2VjcmV0"),
        "{t}"
    );
    let out = kesgate()
        .args(["identity", "new", "--policy", "bad name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

/// A reader that went away ends the command by SIGPIPE, as Unix tools end,
/// never by a panic: `kesgate identity new | head -c0`, `status | true`,
/// `render --diff | true` (after the file was written).
#[test]
fn a_closed_standard_output_ends_by_sigpipe_not_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let closed = || {
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        std::process::Stdio::from(write)
    };
    let f = Fixture::new();
    let env = f.path("minio");
    let cfg = f.config_plus(
        &["https://localhost:1".to_owned()],
        "timeout = \"1s\"",
        &format!("[env_file]\npath = {env:?}\n"),
    );
    for args in [
        vec!["identity", "new"],
        vec!["--config", cfg.to_str().unwrap(), "status"],
        vec!["--config", cfg.to_str().unwrap(), "render", "--diff"],
    ] {
        let out = kesgate()
            .args(&args)
            .stdout(closed())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(13),
            "{args:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
    assert!(
        std::fs::read_to_string(&env)
            .unwrap()
            .contains("MINIO_KMS_KES_ENDPOINT"),
        "render wrote before printing"
    );
}

/// A standard output that fails otherwise (a full disk behind a redirect)
/// is said once, and the command ends with 73 (EX_CANTCREAT) from main's
/// one exit point, never a panic.
#[test]
fn a_full_standard_output_is_said_and_ends_with_73() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = kesgate()
        .args(["identity", "new"])
        .stdout(full)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{err}");
    assert_eq!(
        err.matches("cannot write to standard output").count(),
        1,
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
