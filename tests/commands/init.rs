//! `kesgate init`: adopting what MinIO uses today changes nothing MinIO
//! sees (after `init --adopt`, `render` writes no byte and `render --check`
//! answers 0); every refusal writes nothing; a new installation writes a
//! private configuration and key, prints the policy, and its readiness
//! check says what is missing.

#[path = "../common/mod.rs"]
mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;

/// A host's files: MinIO's env file(s) and where init writes.
struct Host {
    f: Fixture,
}

impl Host {
    fn new() -> Host {
        Host { f: Fixture::new() }
    }
    fn env(&self) -> PathBuf {
        self.f.path("minio")
    }
    fn config(&self) -> PathBuf {
        self.f.path("etc/kesgate.toml")
    }
    fn key(&self) -> PathBuf {
        self.f.path("etc/kes-api-key")
    }
    fn write_env(&self, name: &str, text: &str) -> PathBuf {
        let p = self.f.path(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }
    fn init(&self, extra: &[&str]) -> std::process::Output {
        let env = self.env();
        let key = self.key();
        let mut args = vec![
            "init",
            "--env-file",
            env.to_str().unwrap(),
            "--api-key-file",
            key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_bounded(&self.config(), &args, &[])
    }
    /// Every file in the host's directory: (name, bytes, inode, mtime).
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, u64, i64, i64)> {
        let mut all = Vec::new();
        walk(self.f.dir.path(), &mut all);
        all.sort();
        all
    }
}

fn walk(dir: &Path, all: &mut Vec<(PathBuf, Vec<u8>, u64, i64, i64)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            walk(&p, all);
        } else if m.is_file() {
            all.push((
                p.clone(),
                std::fs::read(&p).unwrap(),
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
            ));
        }
    }
}

/// init --adopt succeeds, then render --check is 0 and render changes no
/// byte, inode or mtime of any file; the files init wrote are 0600.
fn adopts_unchanged(h: &Host) {
    let out = h.init(&["--adopt"]);
    assert_exit(&out, 0);
    assert_no_secrets("init --adopt", &text(&out));
    for p in [h.config(), h.key()] {
        if p.exists() {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }
    let before = h.snapshot();
    let check = run_bounded(&h.config(), &["render", "--check"], &[]);
    assert_exit(&check, 0);
    let render = run_bounded(&h.config(), &["render"], &[]);
    assert_exit(&render, 0);
    assert_eq!(before, h.snapshot(), "render changed a file after adoption");
    // Adopting again: already configured, nothing changes.
    let again = h.init(&["--adopt"]);
    assert_exit(&again, 0);
    assert!(
        text(&again).contains("already configured"),
        "{}",
        text(&again)
    );
    assert_eq!(before, h.snapshot());
}

const UNREACHABLE: &str = "https://localhost:1";

#[test]
fn api_key_layouts_quoting_and_ellipses_are_adopted_without_a_change() {
    // One file, systemd's quoting and escapes (a CA path with a double
    // quote), an ellipsis and spacing kept byte for byte.
    let h = Host::new();
    let quoted_ca = h.f.path("ca \"quoted\".pem");
    std::fs::copy(h.f.path("ca.pem"), &quoted_ca).unwrap();
    h.write_env(
        "minio",
        &format!(
            "# MinIO (the operator's)\nMINIO_VOLUMES=\"/var/lib/minio\"\nMINIO_OPTS=\"--console-address :9001\"\nMINIO_KMS_KES_ENDPOINT=\"https://localhost:{{1...2}}, {UNREACHABLE}\"\nMINIO_KMS_KES_KEY_NAME='minio-default'\nMINIO_KMS_KES_API_KEY={API_KEY}\nMINIO_KMS_KES_CAPATH=\"{}\"\n",
            quoted_ca.display().to_string().replace('"', "\\\"")
        ),
    );
    adopts_unchanged(&h);
    let config = std::fs::read_to_string(h.config()).unwrap();
    assert!(
        config.contains(&format!("\"https://localhost:{{1...2}}, {UNREACHABLE}\"")),
        "{config}"
    );
    assert_eq!(std::fs::read_to_string(h.key()).unwrap().trim(), API_KEY);

    // Two files: MINIO_CONFIG_ENV_FILE in MinIO's syntax (export lines),
    // a CA directory whose name needs quoting.
    let h = Host::new();
    let cas = h.f.path("kes CAs");
    std::fs::create_dir(&cas).unwrap();
    std::fs::copy(h.f.path("ca.pem"), cas.join("kes.pem")).unwrap();
    let minio_env = h.write_env(
        "config.env",
        &format!(
            "export MINIO_KMS_KES_ENDPOINT=\"{UNREACHABLE}\"\nexport MINIO_KMS_KES_KEY_NAME=\"minio-default\"\nexport MINIO_KMS_KES_API_KEY=\"{API_KEY}\"\nexport MINIO_KMS_KES_CAPATH=\"{}\"\n",
            cas.display()
        ),
    );
    h.write_env(
        "minio",
        &format!(
            "MINIO_VOLUMES=/var/lib/minio\nMINIO_CONFIG_ENV_FILE=\"{}\"\n",
            minio_env.display()
        ),
    );
    adopts_unchanged(&h);
}

#[test]
fn certificate_auth_is_adopted_without_a_change() {
    let h = Host::new();
    let client = TestCa::new("client").server_cert(&["client"]);
    std::fs::write(h.f.path("client.pem"), &client.cert_pem).unwrap();
    h.f.write_secret("client.key", &client.key_pem);
    h.write_env(
        "minio",
        &format!(
            "MINIO_KMS_KES_ENDPOINT={UNREACHABLE}\nMINIO_KMS_KES_KEY_NAME=minio-default\nMINIO_KMS_KES_CERT_FILE={}\nMINIO_KMS_KES_KEY_FILE={}\nMINIO_KMS_KES_CAPATH={}\n",
            h.f.path("client.pem").display(),
            h.f.path("client.key").display(),
            h.f.path("ca.pem").display()
        ),
    );
    adopts_unchanged(&h);
    assert!(!h.key().exists(), "no API key file for certificate auth");
}

/// A refusal exits 78 and writes nothing anywhere.
fn refused(h: &Host, extra: &[&str], needles: &[&str]) -> String {
    let before = h.snapshot();
    let out = h.init(extra);
    assert_exit(&out, 78);
    let t = text(&out);
    for n in needles {
        assert!(t.contains(n), "lacks {n:?}:\n{t}");
    }
    assert!(t.contains("fix:"), "{t}");
    assert_no_secrets("a refusal", &t);
    assert_eq!(before, h.snapshot(), "a refusal wrote something");
    t
}

#[test]
fn what_cannot_be_adopted_is_refused_and_nothing_is_written() {
    let kes = |rest: &str| {
        format!(
            "MINIO_VOLUMES=/var/lib/minio\nMINIO_KMS_KES_ENDPOINT={UNREACHABLE}\nMINIO_KMS_KES_KEY_NAME=minio-default\n{rest}"
        )
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "MINIO_VOLUMES=/var/lib/minio\n".into(),
            vec!["no KES configuration"],
        ),
        (
            "MINIO_KMS_SECRET_KEY=minio-key:IyqsU3kMFloCNup4BsZtf/rmfHVcTgznO2F25CkEH1g=\n".into(),
            vec!["another KMS"],
        ),
        (
            kes(&format!(
                "MINIO_KMS_KES_API_KEY={API_KEY}\nMINIO_KMS_KES_CERT_FILE=/c.pem\n"
            )),
            vec!["mixed"],
        ),
        (
            kes(
                "MINIO_KMS_KES_CERT_FILE=/c.pem\nMINIO_KMS_KES_KEY_FILE=/c.key\nMINIO_KMS_KES_KEY_PASSWORD=secret-word\n",
            ),
            vec!["MINIO_KMS_KES_KEY_PASSWORD", "openssl pkey"],
        ),
        (
            kes("MINIO_KMS_KES_API_KEY=kes:v1:not-a-key\n"),
            vec!["not a KES API key"],
        ),
        (
            kes(&format!(
                "MINIO_KMS_KES_API_KEY={API_KEY}\nMINIO_KMS_KES_KEY_NAME=bad/name\n"
            )),
            vec!["minio-backend-default-key"],
        ),
        // A duplicate line: render would rewrite it: shown, refused.
        (
            kes(&format!(
                "MINIO_KMS_KES_API_KEY={OTHER_KEY}\nMINIO_KMS_KES_API_KEY={API_KEY}\n"
            )),
            vec!["would change", "--accept-changes", "MINIO_KMS_KES_API_KEY"],
        ),
    ];
    for (env, needles) in cases {
        let h = Host::new();
        h.write_env("minio", &env);
        let t = refused(&h, &["--adopt"], &needles);
        assert!(!t.contains("secret-word"), "{t}");
    }

    // The same name set differently in the two files.
    let h = Host::new();
    let other = h.write_env(
        "config.env",
        &format!(
            "MINIO_KMS_KES_ENDPOINT=https://elsewhere:7373\nMINIO_KMS_KES_API_KEY={API_KEY}\n"
        ),
    );
    h.write_env(
        "minio",
        &format!(
            "MINIO_CONFIG_ENV_FILE={}\nMINIO_KMS_KES_ENDPOINT={UNREACHABLE}\nMINIO_KMS_KES_KEY_NAME=minio-default\n",
            other.display()
        ),
    );
    refused(
        &h,
        &["--adopt"],
        &["MINIO_KMS_KES_ENDPOINT is set differently"],
    );

    // An existing, different configuration: 78 unless --force, which keeps it.
    let h = Host::new();
    h.write_env("minio", &kes(&format!("MINIO_KMS_KES_API_KEY={API_KEY}\n")));
    std::fs::create_dir_all(h.config().parent().unwrap()).unwrap();
    std::fs::write(h.config(), "# the operator's own\n").unwrap();
    refused(&h, &["--adopt"], &["exists and differs", "--force"]);
    assert_exit(&h.init(&["--adopt", "--force"]), 0);
    assert_eq!(
        std::fs::read_to_string(h.f.path("etc/kesgate.toml.kesgate-prev")).unwrap(),
        "# the operator's own\n"
    );
}

#[test]
fn duplicates_are_adopted_with_accept_changes_and_the_next_render_applies_them() {
    let h = Host::new();
    h.write_env(
        "minio",
        &format!(
            "MINIO_KMS_KES_ENDPOINT={UNREACHABLE}\nMINIO_KMS_KES_KEY_NAME=minio-default\nMINIO_KMS_KES_API_KEY={OTHER_KEY}\nMINIO_KMS_KES_API_KEY={API_KEY}\n"
        ),
    );
    let out = h.init(&["--adopt", "--accept-changes"]);
    assert_exit(&out, 0);
    // Its next step is the one that applies the change it accepted, not
    // the `render --check` that would now answer "differs".
    let said = text(&out);
    assert!(
        said.contains("next: `kesgate render --dry-run --diff`"),
        "{said}"
    );
    assert!(!said.contains("nothing to change"), "{said}");
    assert_exit(&run_bounded(&h.config(), &["render", "--check"], &[]), 1);
    assert_exit(&run_bounded(&h.config(), &["render"], &[]), 0);
    assert_exit(&run_bounded(&h.config(), &["render", "--check"], &[]), 0);
    let env = std::fs::read_to_string(h.env()).unwrap();
    assert_eq!(env.matches("MINIO_KMS_KES_API_KEY").count(), 1, "{env}");
}

#[test]
fn adopting_says_what_kesgate_would_hold_back_and_refuses_without_force() {
    // KES refuses MinIO's identity: MinIO would start (it does not check
    // at start-up), kesgate would not.
    let h = Host::new();
    let kes = h.f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![minio_policy(&"0".repeat(64))],
    );
    h.write_env(
        "minio",
        &format!(
            "MINIO_VOLUMES=/var/lib/minio\nMINIO_KMS_KES_ENDPOINT={}\nMINIO_KMS_KES_KEY_NAME=minio-default\nMINIO_KMS_KES_API_KEY={API_KEY}\nMINIO_KMS_KES_CAPATH={}\n",
            kes.endpoint(),
            h.f.path("ca.pem").display()
        ),
    );
    refused(
        &h,
        &["--adopt"],
        &["held back", "refused identity", "--force"],
    );
    let out = h.init(&["--adopt", "--force"]);
    assert_exit(&out, 0);
    assert!(h.config().exists());
}

#[test]
fn a_new_installation_writes_private_files_prints_the_policy_and_checks_readiness() {
    let h = Host::new();
    h.write_env("minio", "MINIO_VOLUMES=/var/lib/minio\n");
    let kes = h.f.server(Generation::V2024);
    let endpoint = kes.endpoint();
    let ca = h.f.path("ca.pem");
    // No policy names the new key's identity yet: 77, the policy named.
    let out = h.init(&[
        "--endpoint",
        &endpoint,
        "--ca",
        ca.to_str().unwrap(),
        "--key-name",
        "minio-default",
    ]);
    assert_exit(&out, 77);
    let t = text(&out);
    assert!(
        t.contains("policies:") || t.contains("allow:"),
        "the policy is printed:\n{t}"
    );
    assert!(t.contains("refused identity"), "{t}");
    for p in [h.config(), h.key()] {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
    let key = std::fs::read_to_string(h.key()).unwrap();
    assert!(!t.contains(key.trim()), "the new key is never printed");

    // With the policy applied, `start` works.
    let identity = last_identity(&h);
    let kes = h.f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![minio_policy(&identity)],
    );
    let config = std::fs::read_to_string(h.config())
        .unwrap()
        .replace(&endpoint, &kes.endpoint());
    std::fs::write(h.config(), config).unwrap();
    let start = run_bounded(&h.config(), &["start"], &[]);
    assert_exit(&start, 0);

    // Running init again with the same inputs: already configured.
    let again = h.init(&[
        "--endpoint",
        &kes.endpoint(),
        "--ca",
        ca.to_str().unwrap(),
        "--key-name",
        "minio-default",
    ]);
    assert_exit(&again, 0);
    assert!(
        text(&again).contains("already configured"),
        "{}",
        text(&again)
    );
}

fn last_identity(h: &Host) -> String {
    let mut cmd = kesgate();
    cmd.args(["identity", "of", "--file"]).arg(h.key());
    let out = run_guarded(&mut cmd);
    assert_exit(&out, 0);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

#[test]
fn a_node_of_a_distributed_minio_never_gets_a_host_local_key() {
    for volumes in [
        Some("MINIO_VOLUMES=\"https://minio{1...4}.example.net:9000/mnt/disk{1...4}\"\n"),
        None,
    ] {
        let h = Host::new();
        if let Some(v) = volumes {
            h.write_env("minio", v);
        }
        let t = refused(
            &h,
            &["--endpoint", UNREACHABLE],
            &["one API key for the whole cluster", "--api-key-file"],
        );
        assert!(!h.key().exists(), "{t}");
        // With the cluster's shared key it goes on (KES unreachable: 69).
        h.f.write_secret("shared-key", API_KEY);
        let shared = h.f.path("shared-key");
        let out = run_bounded(
            &h.config(),
            &[
                "init",
                "--env-file",
                h.env().to_str().unwrap(),
                "--api-key-file",
                shared.to_str().unwrap(),
                "--endpoint",
                UNREACHABLE,
            ],
            &[],
        );
        assert_exit(&out, 69);
        assert!(h.config().exists());
    }
}

#[test]
fn wrong_combinations_are_usage_errors_and_bad_values_name_the_rule() {
    let h = Host::new();
    // Neither --adopt nor --endpoint; --accept-changes without --adopt.
    for args in [
        &["init"][..],
        &["init", "--endpoint", UNREACHABLE, "--accept-changes"],
        &["init", "--adopt", "--endpoint", UNREACHABLE],
    ] {
        let out = run_bounded(&h.config(), args, &[]);
        assert_exit(&out, 64);
    }
    // The loader's own rule and message for an endpoint.
    h.write_env("minio", "MINIO_VOLUMES=/var/lib/minio\n");
    let t = refused(
        &h,
        &["--endpoint", "http://kes:7373"],
        &["must use https://"],
    );
    assert!(t.contains(&h.config().display().to_string()), "{t}");
}

#[test]
fn dry_run_prints_the_configuration_and_writes_nothing() {
    let h = Host::new();
    h.write_env(
        "minio",
        &format!(
            "MINIO_VOLUMES=/var/lib/minio\nMINIO_KMS_KES_ENDPOINT={UNREACHABLE}\nMINIO_KMS_KES_KEY_NAME=minio-default\nMINIO_KMS_KES_API_KEY={API_KEY}\n"
        ),
    );
    let before = h.snapshot();
    let out = h.init(&["--adopt", "--dry-run"]);
    assert_exit(&out, 0);
    let t = text(&out);
    assert!(t.contains("nothing written"), "{t}");
    assert!(
        t.contains(&format!("endpoints = [\"{UNREACHABLE}\"]")),
        "{t}"
    );
    assert!(t.contains("default_key = \"minio-default\""), "{t}");
    assert!(!t.contains(&API_KEY[7..]), "the key is never printed: {t}");
    assert_eq!(before, h.snapshot());
}

/// An env file an editor left 0644 is adopted: the mode is not something
/// MinIO reads (systemd reads the file as root); init says what the mode
/// will be and why, and the first render closes it, bytes unchanged.
#[test]
fn an_env_file_readable_by_others_is_adopted_and_closed_at_the_first_render() {
    let h = Host::new();
    let env = h.write_env(
        "minio",
        &format!(
            "MINIO_KMS_KES_ENDPOINT={UNREACHABLE}\nMINIO_KMS_KES_KEY_NAME=minio-default\nMINIO_KMS_KES_API_KEY={API_KEY}\n"
        ),
    );
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();
    let bytes = std::fs::read(&env).unwrap();
    let dry = h.init(&["--adopt", "--dry-run"]);
    assert_exit(&dry, 0);
    assert!(text(&dry).contains("mode 0644 → 0600"), "{}", text(&dry));
    let out = h.init(&["--adopt"]);
    assert_exit(&out, 0);
    let t = text(&out);
    assert!(
        t.contains("mode 0644 → 0600") && t.contains("holds the API key"),
        "{t}"
    );
    assert_no_secrets("init --adopt", &t);
    assert_exit(&run_bounded(&h.config(), &["render"], &[]), 0);
    assert_eq!(std::fs::read(&env).unwrap(), bytes);
    assert_eq!(
        std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_exit(&run_bounded(&h.config(), &["render", "--check"], &[]), 0);
}

/// No MINIO_KMS_KES_CAPATH and a KES certificate outside the system roots:
/// MinIO rejects that certificate today too. Adoption says so and goes on:
/// kesgate is not blamed for what stops MinIO already.
#[test]
fn what_stops_minio_today_is_said_and_not_blamed_on_kesgate() {
    let h = Host::new();
    let kes = h.f.server(Generation::V2024);
    h.write_env(
        "minio",
        &format!(
            "MINIO_VOLUMES=/var/lib/minio\nMINIO_KMS_KES_ENDPOINT={}\nMINIO_KMS_KES_KEY_NAME=minio-default\nMINIO_KMS_KES_API_KEY={API_KEY}\n",
            kes.endpoint(),
        ),
    );
    let out = h.init(&["--adopt"]);
    assert_exit(&out, 0);
    let t = text(&out);
    assert!(t.contains("MinIO does not start with this either"), "{t}");
    assert!(!t.contains("held back"), "{t}");
    assert!(h.config().exists());
}

/// `init --adopt --force` replaces a configuration and its API key. Killed
/// (SIGKILL) at every step between and inside its writes, or stopped by a
/// full file system before the configuration: the gate is never on with a
/// missing or a stale key — there is the old pair, no configuration (kesgate
/// not configured: MinIO starts as before), or the new pair.
#[test]
fn init_killed_between_its_writes_never_leaves_the_gate_on_with_a_stale_key() {
    let endpoint = |port: u16| format!("https://localhost:{port}");
    let env_for = |port: u16, key: &str| {
        format!(
            "MINIO_KMS_KES_ENDPOINT={}\nMINIO_KMS_KES_KEY_NAME=minio-default\nMINIO_KMS_KES_API_KEY={key}\n",
            endpoint(port)
        )
    };
    let points = [
        "write-before-rename=return(kill)",
        "write-before-rename=1*off->return(kill)",
        "write-after-rename=1*off->return(kill)",
        "write-before-rename=2*off->return(kill)",
        "init-after-set-aside=return(kill)",
        "init-before-config=return(kill)",
        "init-before-config=return(enospc)",
        "write-before-rename=2*off->return(erofs)",
    ];
    for fp in points {
        let h = Host::new();
        h.write_env("minio", &env_for(1, API_KEY));
        assert_exit(&h.init(&["--adopt"]), 0);
        // The operator changes MinIO's KES settings by hand and adopts again.
        h.write_env("minio", &env_for(2, OTHER_KEY));
        let mut cmd = kesgate_for(&h.config());
        cmd.args(["init", "--adopt", "--force", "--env-file"])
            .arg(h.env())
            .arg("--api-key-file")
            .arg(h.key())
            .env("FAILPOINTS", fp);
        let out = run_guarded(&mut cmd);
        assert_ne!(out.status.code(), Some(0), "{fp}: {}", text(&out));
        assert_no_secrets(fp, &text(&out));
        if out.status.code().is_some() {
            // Stopped, not killed: it says what it wrote and what not.
            let t = text(&out);
            assert!(
                t.contains("not written") || t.contains("cannot write"),
                "{fp}: {t}"
            );
        }
        let key = std::fs::read_to_string(h.key()).unwrap_or_default();
        match std::fs::read_to_string(h.config()) {
            Err(_) => {} // not configured: the gate is off
            Ok(config) if config.contains(&endpoint(1)) => {
                assert_eq!(
                    key.trim(),
                    API_KEY,
                    "{fp}: the old configuration with another key"
                )
            }
            Ok(config) => {
                assert!(config.contains(&endpoint(2)), "{fp}: {config}");
                assert_eq!(
                    key.trim(),
                    OTHER_KEY,
                    "{fp}: the new configuration with a stale key"
                );
            }
        }
        // And a run without faults completes it.
        assert_exit(&h.init(&["--adopt", "--force"]), 0);
        assert!(
            std::fs::read_to_string(h.config())
                .unwrap()
                .contains(&endpoint(2))
        );
        assert_eq!(std::fs::read_to_string(h.key()).unwrap().trim(), OTHER_KEY);
    }
}

/// `init --vault` writes `[vault]`, so that a wait caused by a sealed Vault
/// names it; the address is checked as the loader checks it, and
/// `--vault-ca` alone is a usage error.
#[test]
fn init_names_the_vault_behind_kes() {
    let h = Host::new();
    h.write_env("minio", "MINIO_VOLUMES=/var/lib/minio\n");
    let out = h.init(&[
        "--endpoint",
        UNREACHABLE,
        "--vault",
        "https://vault.example.net:8200",
        "--dry-run",
    ]);
    assert_exit(&out, 0);
    let said = text(&out);
    assert!(
        said.contains("[vault]\naddress = [\"https://vault.example.net:8200\"]\n"),
        "{said}"
    );
    let out = h.init(&[
        "--endpoint",
        UNREACHABLE,
        "--vault",
        "ftp://vault",
        "--dry-run",
    ]);
    assert_exit(&out, 78);
    let out = h.init(&[
        "--endpoint",
        UNREACHABLE,
        "--vault-ca",
        "ca.pem",
        "--dry-run",
    ]);
    assert_exit(&out, 64);
    assert!(
        text(&out).contains("--vault-ca goes with --vault"),
        "{}",
        text(&out)
    );
}
