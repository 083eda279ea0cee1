//! Smaller rules of how kesgate writes and what it refuses (trust issue,
//! items 8, 9 and 11): MinIO's dialect byte for byte, never a file kesgate
//! would refuse to read, lines only MinIO's reader sees, a bind-mounted
//! file, names too long, usage errors.

#[path = "../../common/mod.rs"]
mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

/// kesgate.toml with `[env_file] path = ENV` and the fixture's API key.
fn config(f: &Fixture, env: &Path, set: &str) -> PathBuf {
    let p = f.path("kesgate.toml");
    fs::write(
        &p,
        format!(
            "[kes]\nendpoints = [\"https://kes:7373\"]\napi_key_file = \"kes-api-key\"\nca = \"ca.pem\"\ndefault_key = \"minio-default\"\n\n[env_file]\npath = \"{}\"\n\n[env_file.set]\n{set}",
            env.display()
        ),
    )
    .unwrap();
    p
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

/// MINIO_CONFIG_ENV_FILE pointing at `config.env` next to the systemd file.
fn split(f: &Fixture, config_env: &[u8]) -> PathBuf {
    fs::write(
        f.path("minio"),
        format!("MINIO_CONFIG_ENV_FILE={}\n", f.path("config.env").display()),
    )
    .unwrap();
    fs::write(f.path("config.env"), config_env).unwrap();
    config(f, &f.path("minio"), "")
}

#[test]
fn minios_file_keeps_bytes_that_are_not_utf8_and_a_last_bare_cr() {
    let f = Fixture::new();
    let old: &[u8] = b"MINIO_ROOT_USER=caf\xe9\nMINIO_BROWSER=on\r";
    let cfg = split(&f, old);
    let out = run(&cfg, &["render"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let new = fs::read(f.path("config.env")).unwrap();
    assert!(new.starts_with(old), "the operator's bytes kept");
    // A newline after the bare CR: MinIO's reader ends lines at \n only.
    assert_eq!(&new[old.len()..old.len() + 1], b"\n");
    assert_eq!(code(&run(&cfg, &["render", "--check"])), Some(0));
}

#[test]
fn a_line_minio_cannot_read_is_named_and_nothing_written() {
    let f = Fixture::new();
    let long = format!("MINIO_X={}\n", "y".repeat(64 * 1024));
    let cfg = split(&f, long.as_bytes());
    for args in [&["render"][..], &["render", "--check"]] {
        let out = run(&cfg, args);
        assert_eq!(code(&out), Some(78), "{}", text(&out));
        assert!(
            text(&out).contains("line 1 is 65544 bytes long"),
            "{}",
            text(&out)
        );
    }
    assert_eq!(fs::read(f.path("config.env")).unwrap(), long.as_bytes());
}

#[test]
fn kesgate_never_writes_what_it_would_refuse_to_read() {
    let f = Fixture::new();
    // Just under kesgate's 4 MiB cap: kesgate's lines would take it over.
    let big = format!("# {}\n", "x".repeat(4 * 1024 * 1024 - 16));
    fs::write(f.path("minio"), &big).unwrap();
    let cfg = config(&f, &f.path("minio"), "");
    let out = run(&cfg, &["render"]);
    assert_eq!(code(&out), Some(78), "{}", text(&out));
    assert!(text(&out).contains("larger than 4 MiB"), "{}", text(&out));
    assert_eq!(fs::read_to_string(f.path("minio")).unwrap(), big);
}

#[test]
fn in_a_file_both_read_lines_only_minio_sees_are_managed_too() {
    let f = Fixture::new();
    // One file, read by systemd and (MINIO_CONFIG_ENV_FILE names itself)
    // by MinIO: systemd ignores `export` lines, MinIO does not.
    let path = f.path("minio");
    fs::write(
        &path,
        format!(
            "MINIO_CONFIG_ENV_FILE={}\nexport MINIO_KMS_KES_CERT_FILE=/etc/kes/client.crt\nexport MINIO_KMS_KES_KEY_NAME=stale\nexport MINIO_BROWSER=on\n",
            path.display()
        ),
    )
    .unwrap();
    let cfg = config(&f, &path, "");
    let out = run(&cfg, &["render"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let new = fs::read_to_string(&path).unwrap();
    assert!(
        !new.contains("CERT_FILE") && !new.contains("stale"),
        "{new}"
    );
    assert!(new.contains("export MINIO_BROWSER=on\n"), "{new}");
    assert_eq!(code(&run(&cfg, &["render", "--check"])), Some(0));
}

#[test]
fn a_bind_mounted_file_is_a_configuration_error_with_its_fix() {
    let f = Fixture::new();
    let (src, dst) = (f.path("real-minio"), f.path("minio"));
    fs::write(&src, "MINIO_VOLUMES=/mnt\n").unwrap();
    fs::write(&dst, "").unwrap();
    let mounted = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&src)
        .arg(&dst)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount --bind (tests run as root)");
    let cfg = config(&f, &dst, "");
    let out = run(&cfg, &["render"]);
    let _ = std::process::Command::new("umount").arg(&dst).status();
    assert_eq!(code(&out), Some(78), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("mount point") && t.contains("nothing was written"),
        "{t}"
    );
    assert_eq!(fs::read_to_string(&src).unwrap(), "MINIO_VOLUMES=/mnt\n");
}

#[test]
fn a_file_name_over_255_bytes_is_a_configuration_error() {
    let f = Fixture::new();
    let cfg = config(&f, &f.path(&"m".repeat(300)), "");
    let out = run(&cfg, &["render"]);
    assert_eq!(code(&out), Some(78), "{}", text(&out));
    assert!(text(&out).contains("shorter file name"), "{}", text(&out));
}

#[test]
fn usage_errors_exit_64_and_help_0() {
    let f = Fixture::new();
    let cfg = config(&f, &f.path("minio"), "");
    assert_eq!(code(&run(&cfg, &["render", "--no-such-flag"])), Some(64));
    assert_eq!(code(&run(&cfg, &["no-such-command"])), Some(64));
    assert_eq!(code(&run(&cfg, &["--help"])), Some(0));
}

#[test]
fn messages_show_no_rust_shapes() {
    let f = Fixture::new();
    let cfg = config(&f, &f.path("minio"), "");
    let bad = fs::read_to_string(&cfg)
        .unwrap()
        .replace("minio-default", "a\\u0000b");
    fs::write(&cfg, bad).unwrap();
    let t = text(&run(&cfg, &["render"]));
    assert!(
        !t.contains('\0') && !t.contains("Some(") && !t.contains("None"),
        "{t:?}"
    );
}
