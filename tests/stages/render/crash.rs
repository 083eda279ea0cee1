//! The two-file write under faults (`cargo test --features failpoints`):
//! a kill, a full or read-only file system, a busy mount point or a refusal
//! between every pair of steps of a render, and SIGKILL/SIGTERM at random
//! moments. After each, MinIO's view — computed by MinIO's and systemd's own
//! rules (tests/minio-env-oracle, in Go) — must be the complete old or the
//! complete new configuration, and the next render must complete the change
//! byte for byte.

#[path = "../../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

fn oracle() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| go_build("minio-env-oracle")).clone()
}

/// MinIO's environment, as systemd and then MinIO make it.
fn view(systemd_file: &Path) -> String {
    let out = Command::new(oracle())
        .arg("view")
        .arg(systemd_file)
        .arg("/")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// One starting point: the two files and the configuration to render.
struct Scenario {
    name: &'static str,
    systemd: String,
    config_env: Option<String>,
    /// Extra kesgate.toml text (auth, [env_file.set]).
    extra: String,
}

fn scenarios(f: &Fixture) -> Vec<Scenario> {
    let env = f.path("config.env");
    let ca = f.path("ca.pem");
    let endpoint = "https://kes{1...3}:7373";
    let kes_lines = format!(
        "MINIO_KMS_KES_ENDPOINT={endpoint}\nMINIO_KMS_KES_KEY_NAME=minio-default\nMINIO_KMS_KES_API_KEY={API_KEY}\nMINIO_KMS_KES_CAPATH={}\n",
        ca.display()
    );
    vec![
        // The case: moving the KES lines into MinIO's file.
        Scenario {
            name: "move to config.env",
            systemd: format!(
                "MINIO_VOLUMES=/mnt/d{{1...4}}\nMINIO_CONFIG_ENV_FILE={}\n{kes_lines}",
                env.display()
            ),
            config_env: Some("MINIO_ROOT_USER=admin\nMINIO_ROOT_PASSWORD=\"pw pw\"\n".into()),
            extra: String::new(),
        },
        // The same while the auth method changes (client cert → API key):
        // no two-step order fits; the one-file form goes first.
        Scenario {
            name: "move and change auth",
            systemd: format!(
                "MINIO_VOLUMES=/mnt/d1\nMINIO_CONFIG_ENV_FILE={}\nMINIO_KMS_KES_ENDPOINT={endpoint}\nMINIO_KMS_KES_KEY_NAME=minio-default\nMINIO_KMS_KES_CERT_FILE=/etc/kes/client.crt\nMINIO_KMS_KES_KEY_FILE=/etc/kes/client.key\n",
                env.display()
            ),
            config_env: Some("MINIO_ROOT_USER=admin\n".into()),
            extra: String::new(),
        },
        // [env_file.set] switches the layout in the same render.
        Scenario {
            name: "layout switched by [env_file.set]",
            systemd: format!("MINIO_VOLUMES=/mnt/d1\n{kes_lines}"),
            config_env: None,
            extra: format!(
                "\n[env_file.set]\nMINIO_CONFIG_ENV_FILE = \"{}\"\n",
                env.display()
            ),
        },
        // Both files' own variables change: [env_file.set] in systemd's,
        // the KES lines (certificate → API key) in MinIO's.
        Scenario {
            name: "set value and KES lines change",
            systemd: format!(
                "MINIO_VOLUMES=/mnt/d1\nMINIO_OPTS=\"--address :9000\"\nMINIO_CONFIG_ENV_FILE={}\n",
                env.display()
            ),
            config_env: Some(
                "MINIO_ROOT_USER=admin\nMINIO_KMS_KES_ENDPOINT=https://old-kes:7373\nMINIO_KMS_KES_KEY_NAME=old\nMINIO_KMS_KES_CERT_FILE=/etc/kes/c.crt\nMINIO_KMS_KES_KEY_FILE=/etc/kes/c.key\n".into(),
            ),
            extra: "\n[env_file.set]\nMINIO_OPTS = \"--address :9000 --console-address :9001\"\n".into(),
        },
        // Only MinIO's file changes (a new endpoint).
        Scenario {
            name: "value change in config.env",
            systemd: format!(
                "MINIO_VOLUMES=/mnt/d1\nMINIO_CONFIG_ENV_FILE={}\n",
                env.display()
            ),
            config_env: Some(kes_lines.replace(endpoint, "https://old-kes:7373")),
            extra: String::new(),
        },
    ]
}

struct Case<'a> {
    f: &'a Fixture,
    s: &'a Scenario,
    cfg: PathBuf,
    old: String,
    new: String,
    final_files: (Vec<u8>, Vec<u8>),
}

impl<'a> Case<'a> {
    fn new(f: &'a Fixture, s: &'a Scenario) -> Case<'a> {
        let cfg = f.config_plus(
            &["https://kes{1...3}:7373".to_owned()],
            "timeout = \"1s\"",
            &format!(
                "[env_file]\npath = \"{}\"\n{}",
                f.path("minio").display(),
                s.extra
            ),
        );
        let mut c = Case {
            f,
            s,
            cfg,
            old: String::new(),
            new: String::new(),
            final_files: (Vec::new(), Vec::new()),
        };
        c.reset();
        let initial = c.files();
        c.old = view(&f.path("minio"));
        assert!(c.old.contains("MINIO_VOLUMES"), "{}: {}", s.name, c.old);
        let out = c.render(None);
        assert_eq!(out.status.code(), Some(0), "{}: {}", s.name, text(&out));
        c.new = view(&f.path("minio"));
        c.final_files = c.files();
        // Moving lines keeps MinIO's view (old = new): then every step in
        // between must keep it too.
        assert_ne!(
            initial, c.final_files,
            "{}: the render changes files",
            s.name
        );
        c
    }

    /// The starting point again, with no trace of an earlier run.
    fn reset(&self) {
        let f = self.f;
        std::fs::write(f.path("minio"), &self.s.systemd).unwrap();
        match &self.s.config_env {
            Some(t) => std::fs::write(f.path("config.env"), t).unwrap(),
            None => {
                let _ = std::fs::remove_file(f.path("config.env"));
            }
        }
        for e in std::fs::read_dir(f.dir.path()).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.contains("kesgate-prev") || n.contains("kesgate-tmp") {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        let (_, state) = dirs_for(&self.cfg);
        let _ = std::fs::remove_dir_all(state);
    }

    fn files(&self) -> (Vec<u8>, Vec<u8>) {
        (
            std::fs::read(self.f.path("minio")).unwrap(),
            std::fs::read(self.f.path("config.env")).unwrap_or_default(),
        )
    }

    fn render(&self, failpoints: Option<&str>) -> std::process::Output {
        let mut c = kesgate_for(&self.cfg);
        c.arg("render");
        match failpoints {
            Some(fp) => c.env("FAILPOINTS", fp),
            None => c.env_remove("FAILPOINTS"),
        };
        run_guarded(&mut c)
    }

    /// MinIO's view now is the old or the new one; then the next render
    /// completes the change exactly.
    fn check_and_recover(&self, what: &str, out: &std::process::Output) {
        let seen = view(&self.f.path("minio"));
        assert!(
            seen == self.old || seen == self.new,
            "{}: {what}: MinIO would see neither the old nor the new configuration:\n{seen}\nold:\n{}\nnew:\n{}\n{}",
            self.s.name,
            self.old,
            self.new,
            text(out)
        );
        if text(out).contains("nothing was written") {
            assert_eq!(
                seen, self.old,
                "{}: {what}: said nothing was written",
                self.s.name
            );
        }
        let again = self.render(None);
        assert_eq!(
            again.status.code(),
            Some(0),
            "{}: {what}: {}",
            self.s.name,
            text(&again)
        );
        assert_eq!(
            self.files(),
            self.final_files,
            "{}: {what}: completed",
            self.s.name
        );
        let (_, state) = dirs_for(&self.cfg);
        assert!(
            !state.join("render.pending").exists(),
            "{}: {what}",
            self.s.name
        );
    }
}

const POINTS: [&str; 5] = [
    "commit-after-journal",
    "commit-step",
    "commit-after-backup",
    "write-before-rename",
    "write-after-rename",
];
const FAULTS: [&str; 6] = ["kill", "term", "enospc", "erofs", "ebusy", "eperm"];

#[test]
fn a_fault_between_any_two_steps_leaves_minio_the_old_or_the_new_configuration() {
    let f = Fixture::new();
    let scenarios = scenarios(&f);
    let mut runs = 0;
    for s in &scenarios {
        let case = Case::new(&f, s);
        for point in POINTS {
            for fault in FAULTS {
                for n in 0..8 {
                    case.reset();
                    let fp = format!("{point}={n}*off->return({fault})");
                    let out = case.render(Some(&fp));
                    runs += 1;
                    let reached = out.status.code() != Some(0) || case.files() != case.final_files;
                    if !reached && fault != "term" {
                        // Fewer than n+1 passes through this point.
                        break;
                    }
                    case.check_and_recover(&fp, &out);
                    if fault == "term" && out.status.code() == Some(0) && n > 4 {
                        break;
                    }
                }
            }
        }
    }
    eprintln!("crash: {runs} faulted renders, each old or new, each completed");
}

#[test]
fn random_sigkill_and_sigterm_leave_the_old_or_the_new_configuration() {
    let f = Fixture::new();
    let scenarios = scenarios(&f);
    let mut tally = [0usize; 3];
    for s in &scenarios[..3] {
        let case = Case::new(&f, s);
        for i in 0..60 {
            case.reset();
            let mut child = kesgate_for(&case.cfg)
                .arg("render")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Fault injection at a random moment of the run, not a wait.
            std::thread::sleep(std::time::Duration::from_micros(fastrand::u64(0..6000)));
            let signal = if i % 2 == 0 {
                nix::sys::signal::Signal::SIGKILL
            } else {
                nix::sys::signal::Signal::SIGTERM
            };
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal);
            let out = {
                let _ = child.wait();
                child.wait_with_output().unwrap()
            };
            let seen = view(&f.path("minio"));
            tally[if seen == case.new {
                2
            } else if seen == case.old {
                1
            } else {
                0
            }] += 1;
            case.check_and_recover(&format!("{signal:?} #{i}"), &out);
        }
    }
    eprintln!(
        "random signals: {} left the old view, {} the new (or old = new), {} neither",
        tally[1], tally[2], tally[0]
    );
    assert_eq!(tally[0], 0);
}

/// A render killed between its writes is completed first by the next run
/// of the gate, before it waits for KES (here KES is not even reachable).
#[test]
fn the_next_start_completes_an_unfinished_change_before_anything_else() {
    let f = Fixture::new();
    let scenarios = scenarios(&f);
    let case = Case::new(&f, &scenarios[1]);
    case.reset();
    let out = case.render(Some("commit-step=1*off->return(kill)"));
    assert_eq!(out.status.code(), None, "killed: {}", text(&out));
    let (_, state) = dirs_for(&case.cfg);
    let pending = std::fs::read_to_string(state.join("render.pending")).unwrap();
    assert!(pending.contains("config.env"), "{pending}");
    assert_ne!(case.files(), case.final_files);
    let out = run(&case.cfg, &["start"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    let t = text(&out);
    let finished = t.find("did not finish").expect("said");
    let waited = t.find("KES was not ready").expect("waited");
    assert!(finished < waited, "{t}");
    assert_eq!(case.files(), case.final_files);
    assert!(!state.join("render.pending").exists());
}
