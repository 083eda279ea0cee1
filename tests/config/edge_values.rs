//! The release build never panics on input: every command's parser gets
//! edge values (huge, zero, negative, empty, overlong, non-ASCII) and each
//! run ends with one of the documented exit codes, never a crash (101 for
//! a panic in a debug build, 134 for the release build's abort) and never
//! a hang.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;

const COMMANDS: &[&[&str]] = &[
    &["wait"],
    &["start"],
    &["preflight"],
    &["keys"],
    &["buckets"],
    &["render", "--dry-run"],
    &["render", "--check"],
    &["status", "--json"],
];

/// The exit codes docs/commands.md documents.
const DOCUMENTED: &[i32] = &[0, 1, 64, 69, 73, 76, 77, 78];

fn values() -> Vec<(&'static str, String)> {
    let huge = "18446744073709551615";
    let mut v = Vec::new();
    for field in ["timeout", "max_interval"] {
        for value in [
            format!("{huge}s"),
            format!("{huge}{huge}ms"),
            "0".to_owned(),
            "0s".to_owned(),
            "1ns".to_owned(),
            "-1s".to_owned(),
            "".to_owned(),
            "1e99s".to_owned(),
            "99999999999d".to_owned(),
            "1s 1s 1s 1s".to_owned(),
            "ß".to_owned(),
        ] {
            // `timeout = "0"` waits forever, as documented: not an edge.
            if field == "timeout" && value.starts_with('0') {
                continue;
            }
            v.push(("wait", format!("{field} = \"{value}\"")));
        }
    }
    for endpoint in [
        "https://kes{1...9999}:7373".to_owned(),
        "https://kes{0...ffff}{0...ffff}:7373".to_owned(),
        "https://kes{1...100}.{1...100}.example:7373".to_owned(),
        format!("https://{}:7373", "a".repeat(100_000)),
        "https://kes:99999999999".to_owned(),
        "https://[::1:7373".to_owned(),
        "https://kes{9...1}:7373".to_owned(),
        "https://kes{1...}:7373".to_owned(),
        "".to_owned(),
    ] {
        v.push(("endpoints", format!("endpoints = [\"{endpoint}\"]")));
    }
    v.push(("mode", "mode = \"77777777777777777777\"".to_owned()));
    v.push(("mode", "mode = \"-1\"".to_owned()));
    v.push(("key", format!("default_key = \"{}\"", "k".repeat(100_000))));
    v
}

fn config(f: &Fixture, field: &str, line: &str) -> std::path::PathBuf {
    let endpoints = if field == "endpoints" {
        line.to_owned()
    } else {
        "endpoints = [\"https://127.0.0.1:1\"]".to_owned()
    };
    let default_key = if field == "key" {
        line.to_owned()
    } else {
        "default_key = \"minio-default\"".to_owned()
    };
    let wait = match field {
        "wait" if line.starts_with("timeout") => line.to_owned(),
        "wait" => format!("timeout = \"1s\"\n{line}"),
        _ => "timeout = \"1s\"".to_owned(),
    };
    let mode = if field == "mode" { line } else { "" };
    let text = format!(
        "[kes]\n{endpoints}\napi_key_file = \"kes-api-key\"\nca = \"ca.pem\"\n{default_key}\n\n[wait]\n{wait}\nkes_unit = \"\"\n\n[env_file]\npath = \"minio\"\n{mode}\n"
    );
    let p = f.path("kesgate.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn no_command_crashes_or_hangs_on_edge_values() {
    let f = Fixture::new();
    let mut seen = 0;
    for (field, line) in values() {
        let cfg = config(&f, field, &line);
        // All commands at once (each its own process): the test takes as
        // long as the slowest, not their sum.
        let runs: Vec<_> = COMMANDS
            .iter()
            .map(|args| {
                let mut child = kesgate()
                    .arg("--config")
                    .arg(&cfg)
                    .args(*args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                let stderr = child.stderr.take().unwrap();
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let mut s = String::new();
                    let _ = std::io::Read::read_to_string(&mut { stderr }, &mut s);
                    let _ = tx.send(s);
                });
                (args, child, rx)
            })
            .collect();
        for (args, mut child, rx) in runs {
            // A guard against a hang (a failure), not a timing assertion.
            let text = match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(t) => t,
                Err(_) => {
                    let _ = child.kill();
                    panic!("{args:?} with `{}` hung", &line[..line.len().min(80)]);
                }
            };
            assert_no_secrets("kesgate's output", &text);
            let status = child.wait().unwrap();
            let code = status.code();
            assert!(
                code.is_some_and(|c| DOCUMENTED.contains(&c)) && !text.contains("panicked"),
                "{args:?} with `{}`: {status:?}\n{}",
                &line[..line.len().min(80)],
                &text[..text.len().min(2000)]
            );
            seen += 1;
        }
    }
    assert!(seen > 100);
}
