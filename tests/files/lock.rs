//! Renders serialise on one lock for the host: a 0600 file of root's in
//! kesgate's runtime directory. A holder that never lets go (a stuck
//! kesgate) must not stall kesgate forever: the wait is bounded, names the
//! holder, and SIGTERM still ends it at once. No other user can hold it,
//! nor the episode lock, and a lock on the env file's directory (which any
//! user who can open it may take) does not matter.

#[path = "../common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};

use common::*;

fn config(f: &Fixture) -> std::path::PathBuf {
    f.config_plus(
        &["https://127.0.0.1:1".to_owned()],
        "timeout = \"1s\"",
        "[env_file]\npath = \"minio\"\n",
    )
}

/// The lock file kesgate uses for `cfg`, made as kesgate makes it.
fn lock_file(cfg: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let (run, _) = dirs_for(cfg);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&run)
        .unwrap();
    let path = run.join("render.lock");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    path
}

/// A process other than the test holds the lock (as a stuck one would).
fn holder(cfg: &std::path::Path) -> Child {
    // -o: the lock stays with flock's own pid, not with the command's.
    std::process::Command::new("flock")
        .arg("-o")
        .arg(lock_file(cfg))
        .args(["sh", "-c", "echo locked; exec sleep 600"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("flock(1) from util-linux")
}

/// Reads `child`'s stdout until a line containing `needle`.
fn until(out: &mut impl BufRead, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "ended before {needle:?}: {seen}"
        );
        seen.push_str(&line);
        if line.contains(needle) {
            return seen;
        }
    }
}

fn render(cfg: &std::path::Path) -> Child {
    kesgate_for(cfg)
        .arg("render")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_ends_a_render_waiting_for_the_lock() {
    let f = Fixture::new();
    let cfg = config(&f);
    let mut lock = holder(&cfg);
    until(&mut BufReader::new(lock.stdout.take().unwrap()), "locked");
    let mut child = render(&cfg);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let said = until(&mut err, "waiting up to");
    assert!(
        said.contains(&format!("pid {}", lock.id())),
        "names the holder: {said}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(15));
    assert!(!f.path("minio").exists(), "nothing written");
    let _ = lock.kill();
    let _ = lock.wait();
}

#[test]
fn a_lock_held_too_long_ends_the_wait_naming_its_holder() {
    let f = Fixture::new();
    let cfg = config(&f);
    let mut lock = holder(&cfg);
    until(&mut BufReader::new(lock.stdout.take().unwrap()), "locked");
    let out = run(&cfg, &["render"]);
    let t = text(&out);
    // Transient (73): units retry, and a holder that lets go lets them pass.
    assert_eq!(out.status.code(), Some(73), "{t}");
    assert!(
        t.contains("another process holds the lock") && t.contains(&format!("pid {}", lock.id())),
        "{t}"
    );
    let _ = lock.kill();
    let _ = lock.wait();
    assert_eq!(run(&cfg, &["render"]).status.code(), Some(0));
}

/// `setpriv` as user `nobody` (65534): a real other user.
fn as_nobody() -> std::process::Command {
    let mut c = std::process::Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ]);
    c
}

/// `nobody` holds a flock on `path` until killed.
fn nobody_flock(path: &std::path::Path) -> Child {
    let mut c = as_nobody()
        .args(["flock", "-o"])
        .arg(path)
        .args(["sh", "-c", "echo locked; exec sleep 600"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    until(&mut BufReader::new(c.stdout.take().unwrap()), "locked");
    c
}

fn chown_nobody(p: &std::path::Path) {
    nix::unistd::chown(p, Some(65534.into()), Some(65534.into())).unwrap();
}

/// (a) Any user who can open the env file's directory can flock it: that
/// must not keep MinIO from starting. And the lock kesgate uses cannot be
/// opened by another user at all.
#[test]
fn another_user_cannot_hold_the_write_lock() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let cfg = config(&f);
    std::fs::set_permissions(f.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut dir_lock = nobody_flock(f.dir.path());
    let out = run(&cfg, &["render"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("waiting"), "{}", text(&out));
    let _ = dir_lock.kill();
    let _ = dir_lock.wait();
    // kesgate's own lock: nobody cannot even open it (0600 root, 0700 dir).
    let lock = lock_file(&cfg);
    let tried = as_nobody()
        .args(["flock", "-n"])
        .arg(&lock)
        .arg("true")
        .output()
        .unwrap();
    assert!(!tried.status.success(), "nobody took {}", lock.display());
}

/// (b) A link planted in a directory another user owns is never followed
/// into root's files or the planter's own: tmpfiles' unsafe transition.
#[test]
fn a_link_planted_by_another_user_is_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    std::fs::set_permissions(f.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // root's secret file, and a directory nobody owns (as upstream's
    // minio-user may own /etc/minio).
    let secret = f.path("shadow");
    std::fs::write(&secret, "root:secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let theirs = f.path("etc-minio");
    std::fs::create_dir(&theirs).unwrap();
    chown_nobody(&theirs);
    let planted = theirs.join("config.env");
    let mine = theirs.join("mine");
    for target in [secret.clone(), mine.clone()] {
        let _ = std::fs::remove_file(&planted);
        let made = as_nobody()
            .arg("ln")
            .arg("-sfn")
            .arg(&target)
            .arg(&planted)
            .status()
            .unwrap();
        assert!(made.success());
        let _ = as_nobody().arg("touch").arg(&mine).status();
        // The systemd file points MinIO at the planted name.
        std::fs::write(
            f.path("minio"),
            format!("MINIO_CONFIG_ENV_FILE={}\n", planted.display()),
        )
        .unwrap();
        let cfg = config(&f);
        let before = std::fs::read(&secret).unwrap();
        let out = run(&cfg, &["render"]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(78), "{t}");
        assert!(t.contains("unsafe path transition"), "{t}");
        assert_eq!(
            std::fs::read(&secret).unwrap(),
            before,
            "root's file untouched"
        );
        assert_eq!(
            std::fs::metadata(&secret).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        assert!(
            !std::fs::read_to_string(&mine)
                .unwrap_or_default()
                .contains("MINIO_KMS"),
            "nothing written into the planter's file"
        );
        assert!(
            !std::fs::read_to_string(f.path("minio"))
                .unwrap()
                .contains("MINIO_KMS_KES_API_KEY"),
            "the systemd file kept its layout and no key"
        );
    }
}

/// (c) The episode's lock is a 0600 file of root's: a lock on the runtime
/// directory by another user does not stall saving it.
#[test]
fn another_users_lock_on_the_runtime_directory_does_not_stall_the_episode() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let cfg = config(&f);
    let (run_dir, _) = dirs_for(&cfg);
    lock_file(&cfg);
    // As systemd's RuntimeDirectoryMode= default: 0755, so others can open it.
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut parent = run_dir.clone();
    while parent.pop() && parent != std::env::temp_dir() {
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut dir_lock = nobody_flock(&run_dir);
    let out = kesgate_for(&cfg)
        .env("INVOCATION_ID", "0123")
        .arg("wait")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    // Saved (an episode of "not reachable"), not skipped for a held lock.
    let saved = std::fs::read_to_string(run_dir.join("wait.episode")).unwrap();
    assert!(saved.contains("unreachable"), "{saved}");
    let _ = dir_lock.kill();
    let _ = dir_lock.wait();
}
