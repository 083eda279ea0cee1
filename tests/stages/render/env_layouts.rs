//! Render where MinIO reads: upstream's two-file layout (MINIO_CONFIG_ENV_FILE
//! names config.env, which MinIO parses itself and which overrides systemd's
//! file) and the one-file pattern (MINIO_CONFIG_ENV_FILE naming the
//! EnvironmentFile itself: two parsers on one file).

#[path = "../../common/mod.rs"]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;

/// MinIO's parser (cmd/common-main.go parsEnvEntry), written again here so
/// that the test does not judge kesgate with kesgate's own code.
fn minio_parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let entry = line.strip_prefix("export").unwrap_or(line).trim();
        let (k, v) = entry.split_once('=').expect("MinIO would refuse this line");
        let v = match v.as_bytes() {
            [q @ (b'"' | b'\''), .., last] if v.len() >= 2 && last == q => &v[1..v.len() - 1],
            _ => v,
        };
        out.push((k.to_owned(), v.to_owned()));
    }
    out
}

fn minio_value(text: &str, name: &str) -> Option<String> {
    minio_parse(text)
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

struct TwoFiles {
    f: Fixture,
    cfg: PathBuf,
    default: PathBuf,
    config_env: PathBuf,
}

const DEFAULT_MINIO: &str = "# Volume to be used for MinIO server.\nMINIO_VOLUMES=\"/mnt/data\"\nMINIO_OPTS=\"--console-address :9001\"\nMINIO_CONFIG_ENV_FILE=@CONFIG@\n";
const CONFIG_ENV: &str = "# MinIO's own settings (the operator's)\nMINIO_ROOT_USER=minio-admin\nMINIO_ROOT_PASSWORD='s3cr3t \"quoted\"'\n\n# KES, pasted by hand from the runbook\nMINIO_KMS_KES_ENDPOINT=https://old-kes:7373\nMINIO_KMS_KES_CERT_FILE=/etc/minio/kes-client.crt\nMINIO_KMS_KES_KEY_FILE=/etc/minio/kes-client.key\nMINIO_KMS_KES_KEY_NAME=old-key\n";

fn two_files(endpoint: &str) -> TwoFiles {
    let f = Fixture::new();
    let (default, config_env) = (f.path("default-minio"), f.path("config.env"));
    std::fs::write(
        &default,
        DEFAULT_MINIO.replace("@CONFIG@", &config_env.display().to_string()),
    )
    .unwrap();
    std::fs::write(&config_env, CONFIG_ENV).unwrap();
    std::fs::set_permissions(&config_env, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = f.config_plus(
        &[endpoint.to_owned()],
        "timeout = \"30s\"",
        &format!("[env_file]\npath = {default:?}\n"),
    );
    TwoFiles {
        f,
        cfg,
        default,
        config_env,
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn the_two_file_layout_gets_the_kes_variables_in_config_env() {
    let t = two_files("https://localhost:7373");
    let default_before = read(&t.default);
    // Before: the effective environment (config.env over systemd's file)
    // still has the old endpoint and certificate auth.
    let out = run(&t.cfg, &["render", "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("MINIO_CONFIG_ENV_FILE="),
        "{}",
        text(&out)
    );
    let out = run(&t.cfg, &["render", "--diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let diff = text(&out);
    assert!(
        diff.contains(&format!("--- {}", t.config_env.display())),
        "{diff}"
    );
    assert!(
        !diff.contains("s3cr3t") && !diff.contains(API_KEY),
        "secrets masked: {diff}"
    );

    let env = read(&t.config_env);
    assert_eq!(
        minio_value(&env, "MINIO_KMS_KES_ENDPOINT").as_deref(),
        Some("https://localhost:7373")
    );
    assert_eq!(
        minio_value(&env, "MINIO_KMS_KES_API_KEY").as_deref(),
        Some(API_KEY)
    );
    assert_eq!(
        minio_value(&env, "MINIO_KMS_KES_KEY_NAME").as_deref(),
        Some("minio-default")
    );
    assert_eq!(
        minio_value(&env, "MINIO_KMS_KES_CAPATH").as_deref(),
        Some(t.f.path("ca.pem").to_str().unwrap())
    );
    for gone in ["MINIO_KMS_KES_CERT_FILE", "MINIO_KMS_KES_KEY_FILE"] {
        assert_eq!(minio_value(&env, gone), None, "{env}");
    }
    // The operator's bytes stay, in both files.
    for line in [
        "# MinIO's own settings (the operator's)",
        "MINIO_ROOT_USER=minio-admin",
        "MINIO_ROOT_PASSWORD='s3cr3t \"quoted\"'",
        "# KES, pasted by hand from the runbook",
    ] {
        assert!(env.lines().any(|l| l == line), "{line:?} lost:\n{env}");
    }
    assert_eq!(
        read(&t.default),
        default_before,
        "systemd's file had no KES lines: untouched"
    );
    assert_eq!(
        std::fs::metadata(&t.config_env)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(read(&t.f.path("config.env.kesgate-prev")), CONFIG_ENV);
    // After: MinIO's view matches.
    let out = run(&t.cfg, &["render", "--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A second render changes nothing.
    let out = run(&t.cfg, &["render"]);
    assert!(text(&out).contains("already matches"), "{}", text(&out));
}

#[test]
fn stale_kes_lines_in_systemds_file_leave_it() {
    let t = two_files("https://localhost:7373");
    let mut default = read(&t.default);
    default.push_str(
        "MINIO_KMS_KES_CERT_FILE=/stale.crt\nMINIO_KMS_KES_ENDPOINT=https://stale:7373\n",
    );
    std::fs::write(&t.default, &default).unwrap();
    let out = run(&t.cfg, &["render"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = read(&t.default);
    assert!(!after.contains("MINIO_KMS_KES"), "{after}");
    assert!(
        after.starts_with(&DEFAULT_MINIO.replace("@CONFIG@", &t.config_env.display().to_string())),
        "{after}"
    );
}

#[test]
fn another_kms_in_config_env_is_refused_and_nothing_is_written() {
    let t = two_files("https://localhost:7373");
    std::fs::write(&t.config_env, "MINIO_KMS_SECRET_KEY=my-key:c2VjcmV0\n").unwrap();
    let before = (read(&t.default), read(&t.config_env));
    let out = run(&t.cfg, &["render"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("config.env configures another KMS (MINIO_KMS_SECRET_KEY on line 1)"),
        "{}",
        text(&out)
    );
    assert_eq!((read(&t.default), read(&t.config_env)), before);
}

#[test]
fn start_renders_config_env_on_a_real_kes() {
    let t = two_files("https://localhost:1");
    let kes = t.f.server(Generation::V2024);
    std::fs::write(
        &t.cfg,
        read(&t.cfg).replace("https://localhost:1", &kes.endpoint()),
    )
    .unwrap();
    let out = run(&t.cfg, &["start"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("config.env"), "{}", text(&out));
    assert_eq!(
        minio_value(&read(&t.config_env), "MINIO_KMS_KES_ENDPOINT"),
        Some(kes.endpoint())
    );
}

/// The one-file pattern: MINIO_CONFIG_ENV_FILE names the EnvironmentFile
/// itself. Every value is written so that both parsers read it, or refused.
#[test]
fn one_file_read_by_both_parsers() {
    let f = Fixture::new();
    let path = f.path("minio");
    std::fs::write(
        &path,
        format!(
            "MINIO_VOLUMES=/data\nMINIO_CONFIG_ENV_FILE={}\n",
            path.display()
        ),
    )
    .unwrap();
    let cfg = f.config_plus(
        &["https://localhost:7373".to_owned()],
        "timeout = \"30s\"",
        &format!(
            "[env_file]\npath = {path:?}\n\n[env_file.set]\nKESGATE_TEST = 'say \"hi\" to $HOME'\n"
        ),
    );
    let out = run(&cfg, &["render"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = read(&path);
    assert_eq!(
        minio_value(&t, "KESGATE_TEST").as_deref(),
        Some("say \"hi\" to $HOME"),
        "{t}"
    );
    assert!(
        t.contains("KESGATE_TEST='say \"hi\" to $HOME'"),
        "single quotes, literal for both: {t}"
    );
    assert_eq!(run(&cfg, &["render", "--check"]).status.code(), Some(0));
    // A value no line can carry for both is refused, naming it; nothing written.
    let cfg = f.config_plus(
        &["https://localhost:7373".to_owned()],
        "timeout = \"30s\"",
        &format!("[env_file]\npath = {path:?}\n\n[env_file.set]\nKESGATE_TEST = '''it's a \"both\" \\ case'''\n"),
    );
    let before = read(&path);
    let out = run(&cfg, &["render"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("cannot write KESGATE_TEST"),
        "{}",
        text(&out)
    );
    assert_eq!(read(&path), before);
}
