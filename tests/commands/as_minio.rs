//! `kesgate preflight --as-minio`: the drop-in's second line, run as
//! MinIO's user with MinIO's environment. It decides on what MinIO will
//! open and reach — here a real process as `nobody`, with files the kernel
//! (not a model) lets it read or not.

#[path = "../common/mod.rs"]
mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;

use common::*;

const NOBODY: u32 = 65534;

/// The binary where `nobody` may run it: a checkout under a private
/// directory (/root) would not let it (copied once per test process).
fn binary() -> &'static Path {
    static BIN: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    &BIN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.path().join("kesgate");
        std::fs::copy(env!("CARGO_BIN_EXE_kesgate"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, bin)
    })
    .1
}

/// `kesgate preflight --as-minio` with exactly `env` (as systemd would hand
/// MinIO's environment), as `uid` (root when `None`), from `cwd`.
fn as_minio(env: &[(&str, String)], uid: Option<u32>, cwd: &Path) -> std::process::Output {
    // kesgate is configured (the check runs only then): a file it may
    // see exists, whatever its content (the check reads MinIO's inputs).
    let config = cwd.join("kesgate.toml");
    if !config.exists() {
        std::fs::write(&config, "").unwrap();
    }
    let mut c = command(&config, env);
    c.current_dir(cwd);
    if let Some(uid) = uid {
        c.uid(uid).gid(uid).env("HOME", "/nonexistent");
    }
    run_guarded(&mut c)
}

/// `kesgate preflight --as-minio --config CONFIG` with exactly `env`.
fn command(config: &Path, env: &[(&str, String)]) -> Command {
    let mut c = Command::new(binary());
    c.args(["--log", "terminal", "preflight", "--as-minio", "--config"])
        .arg(config)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// A fixture directory anyone may enter, with the CA readable by `mode`.
fn open_fixture(ca_mode: u32) -> Fixture {
    let f = Fixture::new();
    std::fs::set_permissions(f.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(f.path("ca.pem"), std::fs::Permissions::from_mode(ca_mode)).unwrap();
    f
}

fn minio_env(f: &Fixture, endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MINIO_KMS_KES_ENDPOINT", endpoint.to_owned()),
        ("MINIO_KMS_KES_KEY_NAME", "minio-default".to_owned()),
        ("MINIO_KMS_KES_API_KEY", API_KEY.to_owned()),
        (
            "MINIO_KMS_KES_CAPATH",
            f.path("ca.pem").display().to_string(),
        ),
    ]
}

#[test]
fn minio_reaching_kes_passes_and_its_key_is_made_as_minio_makes_it() {
    let f = open_fixture(0o644);
    let kes = f.server(Generation::V2024);
    let out = as_minio(&minio_env(&f, &kes.endpoint()), Some(NOBODY), f.dir.path());
    assert_exit(&out, 0);
    assert!(text(&out).contains("MinIO's own view"), "{}", text(&out));
    // MinIO creates its default key on a 404 at start-up: so does the check.
    assert_eq!(kes.keys(), ["minio-default"]);
    assert_no_secrets("as-minio output", &text(&out));
}

#[test]
fn a_ca_minio_cannot_read_is_not_trusted_and_is_named() {
    let f = open_fixture(0o600);
    let kes = f.server(Generation::V2024);
    let env = minio_env(&f, &kes.endpoint());
    let out = as_minio(&env, Some(NOBODY), f.dir.path());
    assert_exit(&out, 76);
    let t = text(&out);
    assert!(t.contains("cannot be opened by MinIO here"), "{t}");
    assert!(t.contains("uid 65534"), "{t}");
    assert!(
        kes.keys().is_empty(),
        "nothing reached KES's keys: {:?}",
        kes.keys()
    );
    // Root reads it: the same environment passes.
    assert_exit(&as_minio(&env, None, f.dir.path()), 0);
}

#[test]
fn a_ca_granted_to_minio_by_an_acl_is_trusted() {
    let f = open_fixture(0o600);
    let kes = f.server(Generation::V2024);
    // setfacl -m u:nobody:r ca.pem
    let entry = |tag: u16, perm: u16, id: u32| {
        let mut e = tag.to_le_bytes().to_vec();
        e.extend(perm.to_le_bytes());
        e.extend(id.to_le_bytes());
        e
    };
    let mut acl = 2u32.to_le_bytes().to_vec();
    for e in [
        entry(0x01, 6, u32::MAX),
        entry(0x02, 4, NOBODY),
        entry(0x04, 0, u32::MAX),
        entry(0x10, 4, u32::MAX),
        entry(0x20, 0, u32::MAX),
    ] {
        acl.extend(e);
    }
    if let Err(e) = xattr::set(f.path("ca.pem"), "system.posix_acl_access", &acl) {
        eprintln!(
            "this file system takes no POSIX ACLs ({e}): the ACL case is covered by the unit test of the model"
        );
        return;
    }
    let out = as_minio(&minio_env(&f, &kes.endpoint()), Some(NOBODY), f.dir.path());
    assert_exit(&out, 0);
}

#[test]
fn minio_config_env_file_wins_and_is_read_as_minio() {
    let f = open_fixture(0o644);
    let kes = f.server(Generation::V2024);
    let config_env = f.path("config.env");
    std::fs::write(&config_env, "MINIO_KMS_KES_KEY_NAME=from-config-env\n").unwrap();
    std::fs::set_permissions(&config_env, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut env = minio_env(&f, &kes.endpoint());
    // Relative: MinIO opens it from its working directory.
    env.push(("MINIO_CONFIG_ENV_FILE", "config.env".to_owned()));
    assert_exit(&as_minio(&env, Some(NOBODY), f.dir.path()), 0);
    assert_eq!(kes.keys(), ["from-config-env"]);
    // A file MinIO's user cannot read makes MinIO exit: so does the check.
    std::fs::set_permissions(&config_env, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = as_minio(&env, Some(NOBODY), f.dir.path());
    assert_exit(&out, 77);
    assert!(
        text(&out).contains("MINIO_CONFIG_ENV_FILE"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_client_key_minio_cannot_read_stops_it_and_its_bytes_never_show() {
    let f = open_fixture(0o644);
    let kes = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![minio_policy(IDENTITY)],
    );
    let cert = TestCa::new("client-ca").server_cert(&["client"]);
    std::fs::write(f.path("client.crt"), &cert.cert_pem).unwrap();
    std::fs::write(f.path("client.key"), &cert.key_pem).unwrap();
    std::fs::set_permissions(f.path("client.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let env = vec![
        ("MINIO_KMS_KES_ENDPOINT", kes.endpoint()),
        ("MINIO_KMS_KES_KEY_NAME", "minio-default".to_owned()),
        (
            "MINIO_KMS_KES_CERT_FILE",
            f.path("client.crt").display().to_string(),
        ),
        (
            "MINIO_KMS_KES_KEY_FILE",
            f.path("client.key").display().to_string(),
        ),
        (
            "MINIO_KMS_KES_CAPATH",
            f.path("ca.pem").display().to_string(),
        ),
    ];
    let out = as_minio(&env, Some(NOBODY), f.dir.path());
    assert_exit(&out, 77);
    let t = text(&out);
    assert!(t.contains("client key"), "{t}");
    assert!(!t.contains("PRIVATE KEY"), "{t}");
    // Owned by MinIO's user, 0600: MinIO reads it, so the check goes on to KES.
    std::os::unix::fs::chown(f.path("client.key"), Some(NOBODY), Some(NOBODY)).unwrap();
    // KES refuses that identity by policy, and MinIO starts all the same
    // (it tolerates a denial at start-up): so does the check.
    let out = as_minio(&env, Some(NOBODY), f.dir.path());
    assert_exit(&out, 0);
    assert!(
        text(&out).contains("refuses MinIO's identity"),
        "{}",
        text(&out)
    );
}

#[test]
fn without_kesgates_configuration_nothing_is_checked_or_asked() {
    let f = open_fixture(0o600);
    let kes = f.server(Generation::V2024);
    let mut c = command(&f.path("no-such.toml"), &minio_env(&f, &kes.endpoint()));
    c.uid(NOBODY).gid(NOBODY);
    let out = run_guarded(&mut c);
    assert_exit(&out, 0);
    assert!(kes.requests().is_empty(), "{:?}", kes.requests());
}

#[test]
fn no_kes_in_minios_environment_is_nothing_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = as_minio(&[("MINIO_VOLUMES", "/data".into())], None, dir.path());
    assert_exit(&out, 0);
    assert!(
        text(&out).contains("names no KES") || text(&out).contains("no MINIO_KMS_KES_"),
        "{}",
        text(&out)
    );
}

#[test]
fn minio_refusing_its_kms_configuration_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    // A lone CAPATH: KES present but incomplete, MinIO exits.
    let out = as_minio(
        &[("MINIO_KMS_KES_CAPATH", "/etc/ssl/certs".into())],
        None,
        dir.path(),
    );
    assert_exit(&out, 78);
    assert!(
        text(&out).contains("Invalid KMS configuration"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_proxy_is_not_taken_for_loopback_as_go_does() {
    let f = open_fixture(0o644);
    let kes = f.server(Generation::V2024);
    let mut env = minio_env(&f, &kes.endpoint());
    // Nothing listens there: were the loopback endpoint proxied, it would fail.
    env.push(("HTTPS_PROXY", "http://127.0.0.1:9".to_owned()));
    assert_exit(&as_minio(&env, Some(NOBODY), f.dir.path()), 0);
}

/// A variable in MinIO's environment that is not UTF-8 is no reason to
/// fail (the release build never panics on input).
#[test]
fn a_variable_that_is_not_utf8_is_no_panic() {
    use std::os::unix::ffi::OsStrExt as _;
    let f = open_fixture(0o644);
    let kes = f.server(Generation::V2024);
    std::fs::write(f.path("kesgate.toml"), "").unwrap();
    let mut c = command(&f.path("kesgate.toml"), &minio_env(&f, &kes.endpoint()));
    c.env("MINIO_BROWSER", std::ffi::OsStr::from_bytes(b"\xff\xfe"));
    assert_exit(&run_guarded(&mut c), 0);
}
