//! Renders serialise on a flock of the env file's directory. A holder that
//! never lets go (a stuck process, an operator's `flock`) must not stall
//! kesgate forever: the wait is bounded, names the holder, and SIGTERM
//! still ends it at once.

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

/// A process other than the test holds the lock (as a stuck one would).
fn holder(f: &Fixture) -> Child {
    // -o: the lock stays with flock's own pid, not with the command's.
    std::process::Command::new("flock")
        .arg("-o")
        .arg(f.dir.path())
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
    kesgate()
        .arg("--config")
        .arg(cfg)
        .arg("render")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_ends_a_render_waiting_for_the_lock() {
    let f = Fixture::new();
    let cfg = config(&f);
    let mut lock = holder(&f);
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
    let mut lock = holder(&f);
    until(&mut BufReader::new(lock.stdout.take().unwrap()), "locked");
    let out = run(&cfg, &["render"]);
    let t = text(&out);
    // Transient (73): units retry, and a holder that lets go lets them pass.
    assert_eq!(out.status.code(), Some(73), "{t}");
    assert!(
        t.contains("another process holds the lock on")
            && t.contains(&format!("pid {}", lock.id())),
        "{t}"
    );
    let _ = lock.kill();
    let _ = lock.wait();
    assert_eq!(run(&cfg, &["render"]).status.code(), Some(0));
}
