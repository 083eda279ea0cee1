//! Configuration refusals: each names file:line:column and the fix, exit 78
//! (77 for secrets readable by others), and nothing is contacted.

#[path = "../common/mod.rs"]
mod common;

use common::*;

fn check(body: &str, line_col: &str, words: &[&str]) {
    let f = Fixture::new();
    let path = f.path("kesgate.toml");
    std::fs::write(&path, body).unwrap();
    let out = run(&path, &["wait"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(78), "{t}");
    assert!(
        t.contains(&format!("{}:{line_col}:", path.display())),
        "{t}"
    );
    assert!(t.contains("fix:"), "{t}");
    for w in words {
        assert!(t.contains(w), "missing {w:?} in {t}");
    }
}

const KES: &str = "[kes]\nendpoints = [\"https://kes:7373\"]\napi_key_file = \"kes-api-key\"\ndefault_key = \"k\"\n";

#[test]
fn unknown_key() {
    check(
        &format!("{KES}colour = \"blue\"\n"),
        "5:1",
        &["unknown field `colour`", "spelling"],
    );
}

#[test]
fn unknown_section_key() {
    check(
        &format!("{KES}[wait]\ntimout = \"1s\"\n"),
        "6:1",
        &["unknown field `timout`"],
    );
}

#[test]
fn wrong_type() {
    check(
        "[kes]\nendpoints = \"https://kes:7373\"\n",
        "2:13",
        &["invalid type"],
    );
}

#[test]
fn bad_duration() {
    check(
        &format!("{KES}[wait]\ntimeout = \"15 minutes-ish\"\n"),
        "6:11",
        &["not a duration", "\"15m\""],
    );
}

#[test]
fn kes_unit_must_be_a_service_name() {
    check(
        &format!("{KES}[wait]\nkes_unit = \"kes\"\n"),
        "6:12",
        &["not a service unit name", "\"kes.service\""],
    );
}

#[test]
fn the_example_configuration_parses() {
    let f = Fixture::new();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/kesgate.toml.example"
    ))
    .unwrap();
    // Its paths point at /etc/kesgate; here at the fixture's files.
    let body = example
        .replace("/etc/kesgate/kes-api-key", "kes-api-key")
        .replace("/etc/kesgate/kes-ca.pem", "ca.pem")
        .replace("\"/etc/default/minio\"", "\"minio\"");
    let path = f.path("kesgate.toml");
    std::fs::write(&path, body).unwrap();
    let out = run(&path, &["render", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn bad_require() {
    check(
        &format!("{KES}[wait]\nrequire = \"most\"\n"),
        "6:11",
        &["unknown variant `most`"],
    );
}

#[test]
fn invalid_key_name() {
    check(
        "[kes]\nendpoints = [\"https://kes:7373\"]\napi_key_file = \"k\"\ndefault_key = \"-bad-\"\n",
        "4:15",
        &["starts or ends with `-`"],
    );
    check(
        "[kes]\nendpoints = [\"https://kes:7373\"]\napi_key_file = \"k\"\ndefault_key = \"my key\"\n",
        "4:15",
        &["contains ' '"],
    );
}

#[test]
fn malformed_endpoints() {
    for (endpoint, words) in [
        ("http://kes:7373", "must use https://"),
        ("https://kes:7373/", "trailing slash"),
        ("https://kes:7373/v1", "must not have a path"),
        ("kes:7373", "must use https://"),
        ("https://kes{3...1}:7373", "bigger than its end"),
        ("https://kes{1..3}:7373", "invalid ellipsis"),
    ] {
        check(
            &format!(
                "[kes]\nendpoints = [\n  \"{endpoint}\",\n]\napi_key_file = \"k\"\ndefault_key = \"k\"\n"
            ),
            "3:3",
            &[words],
        );
    }
}

#[test]
fn two_authentication_methods() {
    check(
        &format!("{KES}cert_file = \"c.pem\"\nkey_file = \"c.key\"\n"),
        "5:13",
        &["MinIO refuses to start with both"],
    );
}

#[test]
fn inline_api_key_needs_a_private_config_file() {
    let f = Fixture::new();
    let path = f.path("kesgate.toml");
    std::fs::write(
        &path,
        format!("[kes]\nendpoints = [\"https://kes:7373\"]\napi_key = \"{API_KEY}\"\ndefault_key = \"k\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = run(&path, &["wait"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    assert!(text(&out).contains(&format!("chmod 600 {}", path.display())));
    assert!(!text(&out).contains(&API_KEY[10..]));
}

#[test]
fn missing_file_and_malformed_key() {
    let f = Fixture::new();
    let out = run(&f.path("nope.toml"), &["wait"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        text(&out).contains("nope.toml") && text(&out).contains("--config"),
        "{}",
        text(&out)
    );

    f.write_secret("kes-api-key", "kes:v1:AAAA");
    let out = run(&f.config(&["https://kes:7373".into()], ""), &["wait"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(text(&out).contains("invalid length"), "{}", text(&out));
}

#[test]
fn config_path_from_the_environment() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let config = f.config(&[kes.endpoint()], "");
    let out = kesgate()
        .arg("wait")
        .env("KESGATE_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn vault_addresses_are_urls_without_a_path() {
    check(
        &format!("{KES}[vault]\naddress = \"https://vault:8200/ui\"\n"),
        "6:11",
        &["is not a Vault address", "https://vault.example.net:8200"],
    );
    check(
        &format!("{KES}[vault]\naddress = [\" , \"]\n"),
        "6:11",
        &["lists no address"],
    );
}

#[test]
fn timeouts_have_a_maximum() {
    check(
        &format!("{KES}[wait]\ntimeout = \"18446744073709551615s\"\n"),
        "6:11",
        &["longer than the maximum", "\"30d\""],
    );
}

/// The client certificate and key are read, checked and turned into the
/// identity once, at load: a file that is not what it must be is named
/// with the line of kesgate.toml that points at it, before any request,
/// and every command that loads the configuration says the same.
#[test]
fn a_client_certificate_or_key_that_is_not_pem_is_named_at_load() {
    let f = Fixture::new();
    let path = f.path("kesgate.toml");
    let body = "[kes]\nendpoints = [\"https://kes:7373\"]\ncert_file = \"c.pem\"\nkey_file = \"c.key\"\ndefault_key = \"k\"\n[env_file]\npath = \"minio\"\n";
    std::fs::write(&path, body).unwrap();
    let client = TestCa::new("c").server_cert(&["c"]);

    // Not a certificate.
    std::fs::write(f.path("c.pem"), "not a certificate\n").unwrap();
    f.write_secret("c.key", &client.key_pem);
    for args in [&["wait"][..], &["render", "--check"], &["start"]] {
        let out = run(&path, args);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {t}");
        assert!(t.contains(&format!("{}:3:13:", path.display())), "{t}");
        assert!(t.contains(&f.path("c.pem").display().to_string()), "{t}");
        assert!(t.contains("fix:"), "{t}");
    }

    // A certificate, but a key that is not PEM: line 4, the key's bytes never shown.
    std::fs::write(f.path("c.pem"), &client.cert_pem).unwrap();
    f.write_secret("c.key", "secret-bytes-that-are-no-key\n");
    let out = run(&path, &["wait"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(78), "{t}");
    assert!(t.contains(&format!("{}:4:12:", path.display())), "{t}");
    assert!(!t.contains("secret-bytes"), "{t}");

    // A key others may read: refused as every secret is (77).
    std::fs::write(f.path("c.key"), &client.key_pem).unwrap();
    std::fs::set_permissions(
        f.path("c.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let out = run(&path, &["wait"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    assert!(text(&out).contains("chmod 600"), "{}", text(&out));
}

/// A KES endpoint's host, as MinIO takes it: Go's net/url and pure-Go
/// resolver (tests/minio-url-oracle, built with CGO_ENABLED=0) decide
/// whether it is an address, a name or no URL at all; kesgate accepts an
/// endpoint only where it would connect where MinIO connects, and refuses
/// the rest with a configuration error that names the form both agree on.
#[test]
fn endpoint_hosts_are_taken_as_minio_takes_them() {
    use std::io::Write as _;
    // (endpoint, what Go makes of its host, kesgate accepts)
    let table: &[(&str, &str, bool)] = &[
        ("https://127.0.0.1:7373", "ip 127.0.0.1", true),
        ("https://127.1:7373", "name 3132372e31", false),
        (
            "https://2130706433:7373",
            "name 32313330373036343333",
            false,
        ),
        (
            "https://0x7f.0.0.1:7373",
            "name 307837662e302e302e31",
            false,
        ),
        (
            "https://127.000.000.001:7373",
            "name 3132372e3030302e3030302e303031",
            false,
        ),
        ("https://[::1]:7373", "ip ::1", true),
        ("https://[0:0:0:0:0:0:0:1]:7373", "ip ::1", true),
        ("https://[::ffff:127.0.0.1]:7373", "ip 127.0.0.1", true),
        (
            "https://kes.example.net:7373",
            "name 6b65732e6578616d706c652e6e6574",
            true,
        ),
        (
            "https://KES.Example.NET:7373",
            "name 4b45532e4578616d706c652e4e4554",
            true,
        ),
        ("https://localhost:7373", "name 6c6f63616c686f7374", true),
        (
            "https://k\u{e9}s.example.net:7373",
            "name 6bc3a9732e6578616d706c652e6e6574",
            false,
        ),
        ("https://%6Bes.example.net:7373", "error", false),
    ];
    let oracle = go_build("minio-url-oracle");
    let mut child = std::process::Command::new(&oracle)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for (endpoint, _, _) in table {
            writeln!(stdin, "{endpoint}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let go: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(go.len(), table.len(), "{go:?}");
    let f = Fixture::new();
    for ((endpoint, go_says, accepts), seen) in table.iter().zip(&go) {
        assert!(
            seen.starts_with(go_says),
            "Go takes {endpoint} as `{seen}`, the table says `{go_says}`"
        );
        let config = f.config(&[endpoint.to_string()], "timeout = \"1s\"");
        let out = run(&config, &["render", "--check"]);
        let t = text(&out);
        let refused = out.status.code() == Some(78) && t.contains("write the host as both take it");
        assert_eq!(!refused, *accepts, "{endpoint} (Go: {seen}): {t}");
        if refused {
            assert!(
                t.contains("kesgate.toml:"),
                "the refusal names the file and line: {t}"
            );
        }
    }
}
