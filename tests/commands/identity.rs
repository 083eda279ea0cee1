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

/// `identity new --key-file`: the key goes to a new owner-only file, never
/// to the terminal; the identity printed is the key's; an existing file is
/// never replaced (73, the file as it was).
#[test]
fn a_new_key_into_a_file_is_never_printed_and_never_replaces_a_file() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let file = f.path("new-key");
    let out = kesgate()
        .args(["identity", "new", "--policy", "minio", "--key-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let key = std::fs::read_to_string(&file).unwrap();
    let key = key.trim_end();
    assert!(key.starts_with("kes:v1:"), "{key}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    assert!(!text(&out).contains(key), "the key reached the output");
    assert_eq!(
        last_line(&out),
        last_line(&identity_of_stdin(&format!("{key}\n")))
    );
    let again = kesgate()
        .args(["identity", "new", "--key-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_exit(&again, 73);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim_end(), key);
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            found.extend(files_holding(&p, needle));
        } else if std::fs::read(&p).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) {
            found.push(p);
        }
    }
    found
}

/// `identity switch`: refused, changing nothing, while KES does not serve
/// MinIO with the new identity; once it does, the key file and MinIO's env
/// file hold the new key, the backup that held the old one is gone, and no
/// file of the host (nor the output) holds the old key.
#[test]
fn a_switch_proves_the_new_key_first_and_leaves_the_old_one_nowhere() {
    let other = last_line(&identity_of_stdin(&format!("{OTHER_KEY}\n")));
    for trusted in [false, true] {
        let f = Fixture::new();
        let ids: Vec<&str> = if trusted {
            vec![IDENTITY, &other]
        } else {
            vec![IDENTITY]
        };
        let kes = f.server_at(
            Generation::V2024,
            "127.0.0.1:0",
            vec![Policy::new("minio", &MINIO_PATHS, &ids)],
        );
        let cfg = f.start_config(&kes.endpoint());
        assert_exit(&run(&cfg, &["start"]), 0);
        // An operator's line, so the env file has a backup to keep.
        let env = f.path("minio");
        let rendered = std::fs::read_to_string(&env).unwrap();
        assert!(rendered.contains(API_KEY));
        let new = f.write_secret("new-key", &format!("{OTHER_KEY}\n"));
        let out = run(
            &cfg,
            &["identity", "switch", "--key-file", new.to_str().unwrap()],
        );
        assert!(!text(&out).contains(OTHER_KEY) && !text(&out).contains(API_KEY));
        if !trusted {
            assert_exit(&out, 77);
            assert_eq!(std::fs::read_to_string(&env).unwrap(), rendered);
            assert_eq!(
                std::fs::read_to_string(f.path("kes-api-key"))
                    .unwrap()
                    .trim(),
                API_KEY
            );
            continue;
        }
        assert_exit(&out, 0);
        assert!(text(&out).contains(&other), "{}", text(&out));
        assert_eq!(
            std::fs::read_to_string(f.path("kes-api-key"))
                .unwrap()
                .trim(),
            OTHER_KEY
        );
        assert!(std::fs::read_to_string(&env).unwrap().contains(OTHER_KEY));
        let (run_dir, state) = dirs_for(&cfg);
        for dir in [f.dir.path(), run_dir.as_path(), state.as_path()] {
            if dir.exists() {
                assert_eq!(
                    files_holding(dir, API_KEY),
                    Vec::<std::path::PathBuf>::new()
                );
            }
        }
        // Switching to the key in use changes nothing.
        let same = run(
            &cfg,
            &["identity", "switch", "--key-file", new.to_str().unwrap()],
        );
        assert_exit(&same, 0);
        assert!(text(&same).contains("already holds this key"));
    }
}
