//! `kesgate watch` against the KES test server (the timer, node_exporter
//! and the journal are in tests/system/watch.sh): the metrics file, written
//! as the path rule demands; the journal told once per change, nothing on
//! a quiet round; its memory; the requests a round costs.

#[path = "../common/mod.rs"]
mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;

/// A configuration for `kes` with `[watch] textfile` in the test's own
/// directory `tf/` (created unless `dir` is false).
fn watched(f: &Fixture, kes: &Server, dir: bool) -> (PathBuf, PathBuf) {
    let cfg = f.start_config(&kes.endpoint());
    let tf = f.path("tf");
    if dir {
        std::fs::create_dir(&tf).unwrap();
    }
    let file = tf.join("kesgate.prom");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!("{text}\n[watch]\ntextfile = \"{}\"\n", file.display()),
    )
    .unwrap();
    (cfg, file)
}

/// One round: exit 0, and what it told (the terminal shows the journal's
/// entries as lines).
fn round(cfg: &Path) -> String {
    let out = run_bounded(cfg, &["watch"], &[]);
    assert_exit(&out, 0);
    assert!(out.stdout.is_empty(), "watch prints nothing on stdout");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn metric<'a>(metrics: &'a str, prefix: &str) -> &'a str {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
        .rsplit_once(' ')
        .unwrap()
        .1
}

#[test]
fn a_quiet_round_writes_metrics_and_tells_nothing() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, file) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    assert_eq!(round(&cfg), "", "a healthy first round is a baseline");
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.mode() & 0o7777, 0o644, "node_exporter's user reads it");
    let metrics = std::fs::read_to_string(&file).unwrap();
    promtool_check(&metrics);
    let ep = kes.endpoint();
    assert_eq!(
        metric(&metrics, &format!("kesgate_kes_ready{{endpoint=\"{ep}\"}}")),
        "1"
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("kesgate_kes_key_store_ready{{endpoint=\"{ep}\"}}")
        ),
        "1"
    );
    assert_eq!(metric(&metrics, "kesgate_env_matches"), "1");
    assert_eq!(metric(&metrics, "kesgate_problems"), "0");
    assert!(!metrics.contains(&API_KEY[7..]), "{metrics}");
    // Nothing else left in node_exporter's directory (no temp file).
    let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["kesgate.prom"]);
    // The memory: kesgate's own, private.
    let (_, state) = dirs_for(&cfg);
    let memory = state.join("watch.json");
    assert_eq!(std::fs::metadata(&memory).unwrap().mode() & 0o777, 0o600);

    // Quiet rounds tell nothing; the file is replaced each time.
    let ino = meta.ino();
    assert_eq!(round(&cfg), "");
    assert_ne!(
        std::fs::metadata(&file).unwrap().ino(),
        ino,
        "replaced by a rename"
    );
    // Read-only: no key created, the env file untouched.
    let before = kes.requests().len();
    let env = std::fs::read(f.path("minio")).unwrap();
    assert_eq!(round(&cfg), "");
    assert!(!kes.created_since(before));
    assert_eq!(std::fs::read(f.path("minio")).unwrap(), env);
}

/// The load on KES: a round asks each endpoint a bounded, stated number
/// of requests (docs/monitoring.md: 6 for the default key alone, whose
/// presence MinIO's round trip proves, plus one describe per other
/// configured key; one more, `/version`, when `/v1/status` is refused).
#[test]
fn a_round_costs_a_bounded_number_of_requests() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, _) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    round(&cfg);
    let before = kes.requests().len();
    round(&cfg);
    let sent = kes.requests_since(before);
    let paths: Vec<&str> = sent.iter().map(|(_, p)| p.as_str()).collect();
    // ready, the fresh probe, status; MinIO's round trip (generate,
    // decrypt, describe), which also proves the default key exists: one
    // describe of it per round, not two. Other [[keys]] are described each.
    assert_eq!(
        paths,
        [
            "/v1/ready",
            "/v1/key/describe/minio-default-kesgate-absent-probe",
            "/v1/status",
            "/v1/key/generate/minio-default",
            "/v1/key/decrypt/minio-default",
            "/v1/key/describe/minio-default",
        ]
    );
    assert!(
        paths.iter().all(|p| !p.starts_with("/v1/key/create/")),
        "{paths:?}"
    );
}

#[test]
fn a_sealed_key_store_is_told_once_and_its_return_once() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, file) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    assert_eq!(round(&cfg), "");
    kes.set_sealed(true);
    let told = round(&cfg);
    assert_eq!(told.lines().count(), 1, "{told}");
    assert!(
        told.contains("warning: ") && told.contains("key store"),
        "{told}"
    );
    let metrics = std::fs::read_to_string(&file).unwrap();
    let ep = kes.endpoint();
    assert_eq!(
        metric(&metrics, &format!("kesgate_kes_ready{{endpoint=\"{ep}\"}}")),
        "0"
    );
    assert_eq!(round(&cfg), "", "the same state is not told again");
    kes.set_sealed(false);
    kes.ping_now();
    let told = round(&cfg);
    assert_eq!(told.lines().count(), 1, "{told}");
    assert!(
        !told.contains("warning:") && told.contains("is ready"),
        "{told}"
    );
    assert_eq!(round(&cfg), "");
}

/// A KES server certificate expiring in 10 days: told once by the watch
/// (status's exit 2 and --nagios are in tests/commands/status.rs); the
/// metric is its NotAfter.
#[test]
fn a_certificate_crossing_warn_before_is_told_once() {
    let f = Fixture::new();
    let (cert, not_after) = f.ca.server_cert_expiring(&["localhost", "127.0.0.1"], 10);
    let kes = Server::start(Config {
        cert,
        ..f.kes_config(Generation::V2024)
    });
    let (cfg, file) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    let told = round(&cfg);
    assert_eq!(told.lines().count(), 1, "{told}");
    assert!(
        told.contains("the server certificate \"CN=kes-test-server\"")
            && told.contains("expires in")
            && told.contains("fix: renew it"),
        "{told}"
    );
    let metrics = std::fs::read_to_string(&file).unwrap();
    let line = format!(
        "kesgate_certificate_not_after_timestamp_seconds{{endpoint=\"{}\",role=\"server\",subject=\"CN=kes-test-server\"}} {not_after}",
        kes.endpoint()
    );
    assert!(metrics.contains(&line), "{line}\n{metrics}");
    assert_eq!(metric(&metrics, "kesgate_warnings"), "1");
    assert_eq!(round(&cfg), "", "told once");
}

/// node_exporter not installed: one notice, then silence; once the
/// directory exists the file is written and that is said once too.
#[test]
fn a_missing_textfile_directory_is_one_notice() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, file) = watched(&f, &kes, false);
    assert_exit(&run(&cfg, &["start"]), 0);
    let told = round(&cfg);
    assert_eq!(told.lines().count(), 1, "{told}");
    assert!(
        told.contains("does not exist") && told.contains("Fix:"),
        "{told}"
    );
    assert_eq!(round(&cfg), "");
    std::fs::create_dir(file.parent().unwrap()).unwrap();
    let told = round(&cfg);
    assert!(told.contains("is written again"), "{told}");
    assert!(file.is_file());
    assert_eq!(round(&cfg), "");
}

/// node_exporter's directory belongs to another user, who planted a link
/// (and then a FIFO) where the metrics file goes: root replaces the name,
/// never writes through it, never blocks on it; the link's target is
/// unchanged.
#[test]
fn what_another_user_plants_at_the_metrics_file_is_replaced_not_followed() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, file) = watched(&f, &kes, true);
    let tf = file.parent().unwrap();
    assert_exit(&run(&cfg, &["start"]), 0);
    let victim = f.path("victim");
    std::fs::write(&victim, "root's\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let nobody = 65534;
    std::os::unix::fs::chown(tf, Some(nobody), Some(nobody)).unwrap();
    std::os::unix::fs::symlink(&victim, &file).unwrap();
    std::os::unix::fs::lchown(&file, Some(nobody), Some(nobody)).unwrap();
    assert_eq!(round(&cfg), "");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's\n");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().mode() & 0o777,
        0o600,
        "the target's mode is unchanged"
    );
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert!(
        meta.is_file() && meta.uid() == 0,
        "a regular file of root's"
    );
    std::fs::remove_file(&file).unwrap();
    nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    assert_eq!(round(&cfg), "");
    assert!(std::fs::symlink_metadata(&file).unwrap().is_file());
}

/// A configuration that stops loading is told once (with its line), and
/// its return once; `--remove-textfile` removes the metrics file alone.
#[test]
fn a_broken_configuration_is_told_once_and_remove_textfile_removes_the_file() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, file) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    assert_eq!(round(&cfg), "");
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, good.replace("[wait]", "[wait]\nbogus = 1")).unwrap();
    let told = round(&cfg);
    assert_eq!(told.lines().count(), 1, "{told}");
    assert!(
        told.contains("kesgate.toml:") && told.contains("bogus"),
        "{told}"
    );
    assert_eq!(round(&cfg), "");
    std::fs::write(&cfg, &good).unwrap();
    assert!(round(&cfg).contains("loads again"));
    let other = file.with_file_name("other.prom");
    std::fs::write(&other, "node_other 1\n").unwrap();
    assert_exit(&run(&cfg, &["watch", "--remove-textfile"]), 0);
    assert!(!file.exists() && other.exists());
    // Nothing there: nothing to do.
    assert_exit(&run(&cfg, &["watch", "--remove-textfile"]), 0);
}

/// Told, then remembered: a round killed after telling a change but before
/// its memory was written (SIGKILL at the memory's rename; the metrics
/// file is the round's first write, the memory its second) tells that
/// change again next round, rather than never.
#[cfg(feature = "failpoints")]
#[test]
fn a_round_killed_before_it_remembered_tells_again() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, _) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    assert_eq!(round(&cfg), "");
    kes.set_sealed(true);
    let mut cmd = kesgate_for(&cfg);
    cmd.arg("watch")
        .env("FAILPOINTS", "write-before-rename=1*off->return(kill)");
    let out = run_guarded(&mut cmd);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("key store"),
        "told before the kill: {}",
        text(&out)
    );
    let told = round(&cfg);
    assert!(told.contains("key store"), "told again: {told}");
    assert_eq!(round(&cfg), "");
}

/// A state directory that is another user's: the watch cannot keep its
/// memory there — 73 (cannot create), as docs/commands.md says, with the fix; no
/// metrics claim a round that was not remembered.
#[test]
fn a_state_directory_of_another_user_is_73_with_the_fix() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, _file) = watched(&f, &kes, true);
    let (_, state) = dirs_for(&cfg);
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let out = run_bounded(&cfg, &["watch"], &[]);
    assert_exit(&out, 73);
    let t = text(&out);
    assert!(t.contains("fix:"), "{t}");
}

/// Temp files a killed round left (`.NAME.kesgate-tmp…`, in the state and
/// the textfile directories) are removed by the next round.
#[test]
fn a_killed_rounds_temp_files_are_removed_by_the_next() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, file) = watched(&f, &kes, true);
    round(&cfg);
    let (_, state) = dirs_for(&cfg);
    let stale = [
        file.parent()
            .unwrap()
            .join(".kesgate.prom.kesgate-tmpAbC123"),
        state.join(".watch.json.kesgate-tmpXyZ789"),
    ];
    for p in &stale {
        std::fs::write(p, "left by a kill").unwrap();
    }
    round(&cfg);
    for p in &stale {
        assert!(!p.exists(), "{} is still there", p.display());
    }
}

/// Whether the shipped alert `alert` fires on instance n1, with `labels`
/// and the annotations `kesgate status` there would agree with, when the
/// series a round wrote stay as they are (promtool over the shipped rules).
fn alert_fires(metrics: &str, alert: &Alert) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/prometheus/kesgate-alerts.yml");
    let mut series = String::new();
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        // This test host has no system bus: its units are never seen here,
        // on a real host they are.
        .filter(|l| !l.starts_with("kesgate_link_checked{link=\"units\"}"))
    {
        let (name, value) = line.rsplit_once(' ').unwrap();
        let name = match name.split_once('{') {
            Some((n, labels)) => format!("{n}{{instance=\"n1\",{labels}"),
            None => format!("{name}{{instance=\"n1\"}}"),
        };
        series.push_str(&format!(
            "      - series: '{name}'\n        values: '{value}x30'\n"
        ));
    }
    let labels: String = alert
        .labels
        .iter()
        .map(|(k, v)| format!("              {k}: {v}\n"))
        .collect();
    let test = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n      - eval_time: 20m\n        alertname: {}\n        exp_alerts:\n          - exp_labels:\n              severity: warning\n              instance: n1\n{labels}            exp_annotations:\n              summary: \"{}\"\n              description: \"{}\"\n",
        rules.display(),
        alert.name,
        alert.summary,
        alert.description
    );
    std::fs::write(dir.path().join("t.yml"), test).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["test", "rules", "t.yml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool (Debian's prometheus; tests/setup.sh installs it)");
    out.status.success()
}

/// A shipped alert as it fires on instance n1.
struct Alert {
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    summary: &'static str,
    description: &'static str,
}

const NOT_CHECKING: Alert = Alert {
    name: "KesgateNotChecking",
    labels: &[],
    summary: "kesgate checks nothing on n1",
    description: "Its configuration does not load: `kesgate status` there says why. MinIO starts are not gated until it does.",
};

/// Every state in which nothing is checked alerts: a configuration that
/// does not load, and one that is gone after the host was configured,
/// write kesgate_checked 0 (and no "0 missing" claim), the shipped
/// KesgateNotChecking fires on those very metrics, and the journal says it
/// once. A healthy round does not fire it.
#[test]
fn a_host_not_being_checked_makes_the_shipped_alert_fire() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, file) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    round(&cfg);
    let healthy = std::fs::read_to_string(&file).unwrap();
    assert!(healthy.contains("kesgate_checked 1"), "{healthy}");
    assert!(!alert_fires(&healthy, &NOT_CHECKING));

    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, good.replace("[wait]", "[wait]\nbogus = 1")).unwrap();
    assert_eq!(round(&cfg).lines().count(), 1);
    let broken = std::fs::read_to_string(&file).unwrap();
    assert!(broken.contains("kesgate_checked 0"), "{broken}");
    assert!(!broken.contains("kesgate_keys_missing"), "{broken}");
    assert!(alert_fires(&broken, &NOT_CHECKING), "{broken}");

    // Gone (after it loaded again): told once, the file says so (not
    // removed, not stale).
    std::fs::write(&cfg, &good).unwrap();
    assert!(round(&cfg).contains("loads again"));
    std::fs::remove_file(&cfg).unwrap();
    let told = round(&cfg);
    assert_eq!(told.lines().count(), 1, "{told}");
    assert!(told.contains("does not exist"), "{told}");
    assert_eq!(round(&cfg), "");
    let gone = std::fs::read_to_string(&file).unwrap();
    assert!(gone.contains("kesgate_checked 0"), "{gone}");
    assert!(alert_fires(&gone, &NOT_CHECKING), "{gone}");
}

/// A link kesgate cannot look at on a host it otherwise checks — MinIO's
/// env file no longer parses (an editor saved it as Latin-1) — is not a silent gap: the journal says it
/// once, the metrics say kesgate_link_checked{link="env"} 0 (and claim no
/// kesgate_env_matches), the shipped KesgateLinkNotChecked fires on them;
/// the file fixed, it is told once that checks resume.
#[test]
fn a_link_kesgate_cannot_look_at_makes_the_shipped_alert_fire() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, file) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    assert_eq!(round(&cfg), "");
    let env = f.path("minio");
    let good = std::fs::read(&env).unwrap();
    let mut broken = good.clone();
    broken.extend_from_slice(b"MINIO_BROWSER_LOGIN_ANIMATION=\xe9t\xe9\n");
    std::fs::write(&env, &broken).unwrap();
    let told = round(&cfg);
    assert_eq!(told.lines().count(), 1, "{told}");
    assert!(told.contains("cannot check the env link"), "{told}");
    assert_eq!(round(&cfg), "", "told once");
    let metrics = std::fs::read_to_string(&file).unwrap();
    assert!(
        metrics.contains("kesgate_link_checked{link=\"env\"} 0"),
        "{metrics}"
    );
    assert!(!metrics.contains("kesgate_env_matches"), "{metrics}");
    let alert = Alert {
        name: "KesgateLinkNotChecked",
        labels: &[("link", "env")],
        summary: "kesgate cannot check env on n1",
        description: "Its env series are absent, not healthy: `kesgate status` there says why and what fixes it.",
    };
    assert!(alert_fires(&metrics, &alert), "{metrics}");
    std::fs::write(&env, &good).unwrap();
    let back = round(&cfg);
    assert!(
        back.contains("checks the env link of this host again"),
        "{back}"
    );
    let healthy = std::fs::read_to_string(&file).unwrap();
    assert!(!alert_fires(&healthy, &alert), "{healthy}");
}

/// A host never configured (a fresh install, the timer running) hears
/// nothing and gets no metrics file.
#[test]
fn a_host_never_configured_hears_nothing_and_gets_no_file() {
    let f = Fixture::new();
    let cfg = f.path("kesgate.toml");
    for _ in 0..2 {
        assert_eq!(round(&cfg), "");
    }
    let (_, state) = dirs_for(&cfg);
    assert!(!state.join("watch.json").exists());
}

/// A round that finds another still holding the lock (a slow KES, a watch
/// run by hand) is skipped and says so; it never rewrites the metrics file,
/// so while the other stays stuck the file ages and the shipped
/// KesgateWatchStale alert (promtool-tested on the file's age) fires. The
/// next round that gets the lock writes again.
#[test]
fn a_round_skipped_for_the_lock_says_so_and_leaves_the_file_to_age() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, file) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    round(&cfg);
    let before = std::fs::read(&file).unwrap();
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();

    let (run_dir, _) = dirs_for(&cfg);
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(run_dir.join("watch"))
        .unwrap();
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap();
    kes.set_sealed(true);
    let told = round(&cfg);
    assert!(told.contains("this watch round is skipped"), "{told}");
    assert!(told.contains("holds "), "{told}");
    assert!(told.contains("fix: "), "{told}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "a skipped round wrote"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);

    drop(held);
    let told = round(&cfg);
    assert!(told.contains("sealed"), "the next round checks: {told}");
    assert_ne!(std::fs::read(&file).unwrap(), before);
}

/// `status` says since when a condition holds where the watch's memory
/// knows it: the round that saw the key store go says when, and status
/// shows it on the endpoint's line. Without a watch, no "since".
#[test]
fn status_says_since_when_from_the_watchs_memory() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let (cfg, _) = watched(&f, &kes, true);
    assert_exit(&run(&cfg, &["start"]), 0);
    kes.set_sealed(true);
    let status = || {
        let out = kesgate_for(&cfg)
            .arg("status")
            .env("COLUMNS", "1000")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let line = |s: &str| {
        s.lines()
            .find(|l| l.contains("key store unreachable (sealed?) in"))
            .unwrap_or_else(|| panic!("no endpoint line:\n{s}"))
            .to_owned()
    };
    assert!(!line(&status()).contains("(since "), "no watch yet");
    round(&cfg);
    let shown = line(&status());
    assert!(
        shown.contains("(since ") && shown.contains(" ago)"),
        "{shown}"
    );
}
