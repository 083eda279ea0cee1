//! `kesgate render`: the operator's bytes kept, MinIO's rules enforced,
//! other KMS families refused untouched, crash-safe writes.

#[path = "../../common/mod.rs"]
mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;

const SECRET_BODY: &str = "AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs";

/// A config whose env file is `minio` next to it, with extra `set` lines.
fn config(f: &Fixture, set: &str) -> PathBuf {
    let p = f.path("kesgate.toml");
    fs::write(
        &p,
        format!(
            "[kes]\nendpoints = [\"https://kes{{1...3}}.example.net:7373\", \"https://kes9:7373\"]\napi_key_file = \"kes-api-key\"\nca = \"ca.pem\"\ndefault_key = \"minio-default\"\n\n[env_file]\npath = \"minio\"\n\n[env_file.set]\n{set}"
        ),
    )
    .unwrap();
    p
}

fn env_file(f: &Fixture) -> PathBuf {
    f.path("minio")
}

fn write_private(path: &Path, content: &str) {
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// The comment heading kesgate's lines: it names the configuration in
/// charge (kesgate.toml in the fixture, whatever `--config` says).
fn marker(f: &Fixture) -> String {
    format!(
        "# Managed by kesgate ({}): edits to the variables below are overwritten.\n",
        f.path("kesgate.toml").display()
    )
}

fn managed_block(f: &Fixture) -> String {
    format!(
        "{}MINIO_KMS_KES_ENDPOINT=\"https://kes{{1...3}}.example.net:7373,https://kes9:7373\"\nMINIO_KMS_KES_KEY_NAME=\"minio-default\"\nMINIO_KMS_KES_API_KEY=\"{API_KEY}\"\nMINIO_KMS_KES_CAPATH=\"{}\"\n",
        marker(f),
        f.path("ca.pem").display()
    )
}

#[test]
fn creates_a_private_file_then_leaves_it_alone() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    let out = run(&cfg, &["render"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let meta = fs::metadata(env_file(&f)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(fs::read_to_string(env_file(&f)).unwrap(), managed_block(&f));
    assert!(!f.path("minio.kesgate-prev").exists());
    // Unchanged content: no write at all.
    let out = run(&cfg, &["render"]);
    assert!(text(&out).contains("already matches"), "{}", text(&out));
    let again = fs::metadata(env_file(&f)).unwrap();
    assert_eq!(
        (again.ino(), again.mtime_nsec(), again.mtime()),
        (meta.ino(), meta.mtime_nsec(), meta.mtime())
    );
    assert_eq!(run(&cfg, &["render", "--check"]).status.code(), Some(0));
    assert!(!text(&out).contains(SECRET_BODY));
}

#[test]
fn operator_lines_stay_byte_exact_and_managed_ones_are_fixed_in_place() {
    let f = Fixture::new();
    let cfg = config(&f, "MINIO_OPTS = \"--console-address \\\":9001\\\"\"\n");
    let old = "# MinIO, by the operator\r\n\n  MINIO_VOLUMES='/mnt/disk{1...4}'  \nMINIO_KMS_KES_KEY_NAME=old-key # not a comment\nexport ODD=1\nMINIO_ROOT_USER=\"ädmin\"\n; semicolon comment\nMINIO_KMS_KES_KEY_NAME=duplicate\nMINIO_KMS_KES_CERT_FILE=\nMINIO_KMS_KES_ENCLAVE=old\nTAIL=x\\\ny\n";
    write_private(&env_file(&f), old);
    let out = run(&cfg, &["render"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let new = fs::read_to_string(env_file(&f)).unwrap();
    let expected = format!(
        "# MinIO, by the operator\r\n\n  MINIO_VOLUMES='/mnt/disk{{1...4}}'  \nMINIO_KMS_KES_KEY_NAME=\"minio-default\"\nexport ODD=1\nMINIO_ROOT_USER=\"ädmin\"\n; semicolon comment\nTAIL=x\\\ny\n{}MINIO_KMS_KES_ENDPOINT=\"https://kes{{1...3}}.example.net:7373,https://kes9:7373\"\nMINIO_KMS_KES_API_KEY=\"{API_KEY}\"\nMINIO_KMS_KES_CAPATH=\"{}\"\nMINIO_OPTS=\"--console-address \\\":9001\\\"\"\n",
        marker(&f),
        f.path("ca.pem").display()
    );
    assert_eq!(new, expected);
    assert_eq!(
        fs::read_to_string(f.path("minio.kesgate-prev")).unwrap(),
        old
    );
    let log = text(&out);
    assert!(
        log.contains("removed MINIO_KMS_KES_CERT_FILE")
            && log.contains("removed MINIO_KMS_KES_ENCLAVE"),
        "{log}"
    );
    assert!(!log.contains(SECRET_BODY), "{log}");
}

#[test]
fn cert_auth_removes_the_api_key_instead_of_blanking_it() {
    let f = Fixture::new();
    let p = f.path("kesgate.toml");
    fs::write(
        &p,
        "[kes]\nendpoints = [\"https://kes:7373\"]\ncert_file = \"c.pem\"\nkey_file = \"c.key\"\ndefault_key = \"k\"\n[env_file]\npath = \"minio\"\n",
    )
    .unwrap();
    let client = TestCa::new("c").server_cert(&["c"]);
    fs::write(f.path("c.pem"), client.cert_pem).unwrap();
    f.write_secret("c.key", &client.key_pem);
    write_private(
        &env_file(&f),
        &format!("MINIO_KMS_KES_API_KEY={API_KEY}\nMINIO_KMS_KES_CAPATH=/old\n"),
    );
    assert_eq!(run(&p, &["render"]).status.code(), Some(0));
    let new = fs::read_to_string(env_file(&f)).unwrap();
    assert!(!new.contains("API_KEY") && !new.contains("CAPATH"), "{new}");
    assert!(
        new.contains(&format!(
            "MINIO_KMS_KES_CERT_FILE=\"{}\"",
            f.path("c.pem").display()
        )),
        "{new}"
    );
    assert_eq!(run(&p, &["render", "--check"]).status.code(), Some(0));
}

#[test]
fn other_kms_families_are_refused_untouched() {
    for other in [
        "MINIO_KMS_SERVER=https://minkms:7373\n",
        "MINIO_KMS_SSE_KEY=\n",
        "MINIO_KMS_SECRET_KEY=my-key:IyqsU3kMFloCNup4BsZtf/rmfHVcTgznO2F25CkEH1g=\n",
    ] {
        let f = Fixture::new();
        let cfg = config(&f, "");
        let old = format!("# keep\n{other}");
        fs::write(env_file(&f), &old).unwrap();
        let before = fs::metadata(env_file(&f)).unwrap();
        let out = run(&cfg, &["render"]);
        assert_eq!(out.status.code(), Some(78), "{}", text(&out));
        assert!(
            text(&out).contains("on line 2") && text(&out).contains("left the file untouched"),
            "{}",
            text(&out)
        );
        assert_eq!(fs::read_to_string(env_file(&f)).unwrap(), old);
        assert_eq!(fs::metadata(env_file(&f)).unwrap().ino(), before.ino());
        assert_eq!(run(&cfg, &["render", "--check"]).status.code(), Some(1));
    }
    // An empty static key is unset by MinIO itself: not another KMS.
    let f = Fixture::new();
    fs::write(
        env_file(&f),
        "MINIO_KMS_SECRET_KEY=\nMINIO_KMS_SECRET_KEY_FILE=/does/not/exist\n",
    )
    .unwrap();
    assert_eq!(run(&config(&f, ""), &["render"]).status.code(), Some(0));
}

#[test]
fn a_file_ending_in_an_open_quote_is_refused() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    let old = "A=1\nMINIO_OPTS=\"--open\n";
    fs::write(env_file(&f), old).unwrap();
    let out = run(&cfg, &["render"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("line 2: a quote opened here is never closed"),
        "{}",
        text(&out)
    );
    assert_eq!(fs::read_to_string(env_file(&f)).unwrap(), old);
}

#[test]
fn world_readable_file_is_tightened() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    fs::write(env_file(&f), "MINIO_ROOT_USER=admin\n").unwrap();
    fs::set_permissions(env_file(&f), fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&cfg, &["render"]);
    assert!(
        text(&out).contains("was mode 0644: tightened to 0600"),
        "{}",
        text(&out)
    );
    assert_eq!(
        fs::metadata(env_file(&f)).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    assert_eq!(
        fs::metadata(f.path("minio.kesgate-prev"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o600
    );
}

#[test]
fn dry_run_and_diff_write_nothing_and_mask_secrets() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    // Secrets under names no list would guess, after `export`, in a
    // comment: only kesgate's own non-secret variables are shown.
    let old = format!(
        "export MINIO_ROOT_PASSWORD=hunter2hunter2\nMINIO_NOTIFY_MYSQL_DSN_STRING_PRIMARY=\"dbuser:dbpw9@tcp(db:3306)/minio\"\n# was: dbpw9\nMINIO_KMS_KES_API_KEY={OTHER_KEY}\n"
    );
    write_private(&env_file(&f), &old);
    let out = run(&cfg, &["render", "--dry-run", "--diff"]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out);
    assert!(t.contains("-MINIO_KMS_KES_API_KEY=<masked>\n"), "{t}");
    assert!(
        t.contains("+MINIO_KMS_KES_API_KEY=<masked: changed>\n"),
        "{t}"
    );
    assert!(t.contains(" export MINIO_ROOT_PASSWORD=<masked>\n"), "{t}");
    assert!(!t.contains("dbpw9") && !t.contains("dbuser"), "{t}");
    assert!(t.contains("+MINIO_KMS_KES_ENDPOINT="), "{t}");
    assert!(
        !t.contains(SECRET_BODY) && !t.contains(&OTHER_KEY[7..]) && !t.contains("hunter2"),
        "{t}"
    );
    assert_eq!(fs::read_to_string(env_file(&f)).unwrap(), old);
    assert_eq!(run(&cfg, &["render", "--check"]).status.code(), Some(1));
}

#[test]
fn bad_set_values_are_refused_at_config_load() {
    let f = Fixture::new();
    for (set, words) in [
        ("MINIO_OPTS = \"a\\nb\"\n", "newline or NUL"),
        ("MINIO_KMS_SECRET_KEY = \"x\"\n", "is a KMS variable"),
        ("\"1BAD\" = \"x\"\n", "not a variable name"),
        ("MINIO_OPTS = 3\n", "invalid type"),
    ] {
        let out = run(&config(&f, set), &["render"]);
        assert_eq!(out.status.code(), Some(78), "{set}: {}", text(&out));
        assert!(
            text(&out).contains(words) && text(&out).contains("kesgate.toml:"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn concurrent_renders_serialise() {
    let f = Fixture::new();
    let cfg = config(&f, "MINIO_VOLUMES = \"/mnt/data\"\n");
    write_private(&env_file(&f), "# operator\nMINIO_ROOT_USER=admin\n");
    for out in run_concurrently(&cfg, &["render"], 8) {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let content = fs::read_to_string(env_file(&f)).unwrap();
    assert!(content.starts_with("# operator\nMINIO_ROOT_USER=admin\n# Managed by kesgate"));
    assert_eq!(content.matches("# Managed by kesgate").count(), 1);
    assert_eq!(run(&cfg, &["render", "--check"]).status.code(), Some(0));
    let names: Vec<String> = fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("kesgate-tmp")),
        "{names:?}"
    );
}

/// SIGKILL `kesgate render` at random moments, payloads of varying size:
/// the file is always exactly the old or the new content, and nothing in the
/// directory is ever readable by group or others.
#[test]
fn crash_safety_under_sigkill() {
    let runs: usize = std::env::var("KESGATE_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let scratch = Fixture::new();
    let victim = Fixture::new();
    let old = "# operator\nMINIO_ROOT_USER=admin\n";
    let mut outcomes = [0usize; 2];
    // 40 payload sizes, 0 B … 256 KiB: small ones die before the write, large ones in it.
    let mut expected = std::collections::HashMap::new();
    for i in 0..runs {
        let size = (i % 40) * 6553;
        let set = format!("MINIO_PAYLOAD = \"{}\"\n", "x".repeat(size));
        // The expected new content and run time, from an undisturbed render.
        let (new, took) = expected
            .entry(size)
            .or_insert_with(|| {
                let scratch_cfg = config(&scratch, &set);
                write_private(&env_file(&scratch), old);
                let start = std::time::Instant::now();
                assert_eq!(run(&scratch_cfg, &["render"]).status.code(), Some(0));
                let took = start.elapsed();
                // Same config but for the directory (the CA path is absolute).
                let new = fs::read_to_string(env_file(&scratch)).unwrap().replace(
                    &*scratch.dir.path().to_string_lossy(),
                    &victim.dir.path().to_string_lossy(),
                );
                (new, took)
            })
            .clone();

        let cfg = config(&victim, &set);
        write_private(&env_file(&victim), old);
        let mut child = kesgate()
            .arg("--config")
            .arg(&cfg)
            .arg("render")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A random moment within the undisturbed run time (randomness, not synchronisation).
        std::thread::sleep(took.mul_f64(1.2 * fastrand::f64()));
        let _ = child.kill();
        child.wait().unwrap();
        let now = fs::read_to_string(env_file(&victim)).expect("the env file always exists");
        assert!(
            now == old || now == new,
            "run {i}: torn file ({} bytes)",
            now.len()
        );
        outcomes[usize::from(now == new)] += 1;
        for e in fs::read_dir(victim.dir.path()).unwrap() {
            let e = e.unwrap();
            let mode = e.metadata().unwrap().permissions().mode();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("minio") || name.starts_with(".minio") {
                assert_eq!(mode & 0o077, 0, "run {i}: {name} is mode {mode:o}");
            }
        }
    }
    eprintln!(
        "crash safety: {runs} kills, {} left the old content, {} the new",
        outcomes[0], outcomes[1]
    );
    // The next render finishes the job and sweeps temp files left by kills.
    assert_eq!(
        run(&config(&victim, "MINIO_PAYLOAD = \"done\"\n"), &["render"])
            .status
            .code(),
        Some(0)
    );
    let left: Vec<String> = fs::read_dir(victim.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!left.iter().any(|n| n.contains("kesgate-tmp")), "{left:?}");
}

/// A tmpfs of its own (tests run as root, as CI does); unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mounting a tmpfs needs root");
        Tmpfs(dir)
    }

    fn remount_ro(&self) {
        let ok = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.0.path())
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

fn config_at(f: &Fixture, env_path: &Path, set: &str) -> PathBuf {
    let p = config(f, set);
    let text = fs::read_to_string(&p).unwrap().replace(
        "path = \"minio\"",
        &format!("path = \"{}\"", env_path.display()),
    );
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn full_or_read_only_file_system_leaves_the_old_file() {
    let f = Fixture::new();
    let old = "# operator\nMINIO_ROOT_USER=admin\n";

    let full = Tmpfs::new("64k");
    let path = full.0.path().join("minio");
    write_private(&path, old);
    let cfg = config_at(
        &f,
        &path,
        &format!("MINIO_PAYLOAD = \"{}\"\n", "x".repeat(200 * 1024)),
    );
    let out = run(&cfg, &["render"]);
    assert_eq!(out.status.code(), Some(73), "{}", text(&out));
    assert!(
        text(&out).contains("No space left on device")
            && text(&out).contains("nothing was written"),
        "{}",
        text(&out)
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), old);
    let left: Vec<String> = fs::read_dir(full.0.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|n| n.contains("kesgate-tmp")),
        "no temp file left behind: {left:?}"
    );

    let ro = Tmpfs::new("1m");
    let path = ro.0.path().join("minio");
    write_private(&path, old);
    ro.remount_ro();
    let out = run(&config_at(&f, &path, ""), &["render"]);
    assert_eq!(out.status.code(), Some(73), "{}", text(&out));
    assert!(
        text(&out).contains("Read-only file system"),
        "{}",
        text(&out)
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), old);
}
