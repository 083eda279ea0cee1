//! `kesgate wait` against the KES test server over real mTLS: every
//! readiness outcome, the three generations, classification, any/all.

#[path = "../../common/mod.rs"]
mod common;

use common::*;
use std::os::unix::process::ExitStatusExt;

fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "output:\n{}", text(out));
}

#[test]
fn ready_on_every_generation() {
    let f = Fixture::new();
    // Ready takes the generation's own signal and the fresh probe: a
    // describe of a key nobody creates (404 from the store itself, never
    // from KES's cache, and only for an identity KES authorises).
    const PROBE: &str = "/v1/key/describe/minio-default-kesgate-absent-probe";
    for (generation, expected) in [
        (Generation::V2024, vec!["/v1/ready", PROBE]),
        (Generation::V2023_05, vec!["/v1/ready", PROBE]),
        // 2023-02: no /v1/ready (501): the fresh probe alone.
        (Generation::V2023_02, vec!["/v1/ready", PROBE]),
    ] {
        let kes = f.server(generation);
        let out = run(&f.config(&[kes.endpoint()], "timeout = \"30s\""), &["wait"]);
        assert_exit(&out, 0);
        let paths: Vec<String> = kes.requests().into_iter().map(|(_, p)| p).collect();
        assert_eq!(paths, expected, "{generation:?}");
        assert!(text(&out).contains("is ready"), "{}", text(&out));
    }
}

#[test]
fn sealed_then_unsealed_reports_and_becomes_ready_on_one_connection() {
    let f = Fixture::new();
    for generation in ALL_GENERATIONS {
        let kes = f.server(generation);
        kes.set_sealed(true);
        let notify = NotifySocket::new();
        let config = f.config(
            &[kes.endpoint()],
            "timeout = \"0\"\nmax_interval = \"200ms\"",
        );
        let child = notify.spawn(&config);
        // 2023-02 too: the fresh probe's 502 is the store not serving.
        let expected = "key store unreachable (sealed?)";
        let seen = notify.until("attempt 3,");
        assert!(
            seen.iter().any(|m| m.contains(expected)),
            "{generation:?}: {seen:?}"
        );
        assert!(
            seen.iter().any(|m| m.contains("EXTEND_TIMEOUT_USEC=")),
            "{seen:?}"
        );
        kes.set_sealed(false);
        // 2024+ sees the store back at its next key-store ping.
        kes.ping_now();
        let seen = notify.until("READY=1");
        assert!(
            seen.last().unwrap().contains("STATUS=KES ready"),
            "{seen:?}"
        );
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0);
        // Polls reuse one kept-alive connection.
        assert_eq!(kes.connections(), 1, "{generation:?}");
        // One journal/log line per state change, not one per retry.
        let log = text(&out);
        assert_eq!(log.matches(expected).count(), 1, "{log}");
    }
}

#[test]
fn sealed_past_the_timeout_exits_69_naming_endpoint_and_state() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    kes.set_sealed(true);
    let out = run(
        &f.config(
            &[kes.endpoint()],
            "timeout = \"1s\"\nmax_interval = \"200ms\"",
        ),
        &["wait"],
    );
    assert_exit(&out, 69);
    let log = text(&out);
    assert!(log.contains(&kes.endpoint()), "{log}");
    assert!(
        log.contains("key store unreachable (sealed?)") && log.contains("HTTP 504"),
        "{log}"
    );
    assert!(log.contains("fix:"), "{log}");
}

#[test]
fn nothing_listening_is_transient_until_the_timeout() {
    let f = Fixture::new();
    // A port just freed on 127.0.0.5, where no test (running in parallel)
    // binds: it stays refused.
    let port = std::net::TcpListener::bind("127.0.0.5:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("https://127.0.0.5:{port}");
    let out = run(
        &f.config(std::slice::from_ref(&endpoint), "timeout = \"1s\""),
        &["wait"],
    );
    assert_exit(&out, 69);
    assert!(
        text(&out).contains("not reachable") && text(&out).contains(&endpoint),
        "{}",
        text(&out)
    );
}

#[test]
fn forbidden_identity_fails_at_once_with_the_policy_to_add() {
    let f = Fixture::new();
    for generation in ALL_GENERATIONS {
        // The policy lists another identity only.
        let kes = f.server_at(
            generation,
            "127.0.0.1:0",
            vec![minio_policy(&"0".repeat(64))],
        );
        let out = run(&f.config(&[kes.endpoint()], "timeout = \"0\""), &["wait"]);
        assert_exit(&out, 77);
        let log = text(&out);
        assert!(log.contains(IDENTITY), "{log}");
        assert!(
            log.contains("policy:")
                && log.contains("- /v1/ready")
                && log.contains(&format!("- {IDENTITY}")),
            "{log}"
        );
        // A 403 is not retried. 2023-02 first learns it has no /v1/ready,
        // then finds every route that could prove authorisation refused,
        // down to MinIO's own start-up call.
        let paths: Vec<String> = kes.requests().into_iter().map(|(_, p)| p).collect();
        let expected: &[&str] = match generation {
            Generation::V2023_02 => &[
                "/v1/ready",
                "/v1/key/describe/minio-default-kesgate-absent-probe",
                "/v1/key/describe/minio-default",
                "/v1/key/generate/minio-default",
            ],
            _ => &["/v1/ready"],
        };
        assert_eq!(paths, expected);
    }
}

#[test]
fn partial_policy_names_the_denied_route() {
    let f = Fixture::new();
    // May read /v1/status but no key: a 2023-02 server has nothing else
    // that proves authorisation; MinIO's own call is refused.
    let kes = f.server_at(
        Generation::V2023_02,
        "127.0.0.1:0",
        vec![Policy::new("p", &["/v1/status"], &[IDENTITY])],
    );
    let out = run(&f.config(&[kes.endpoint()], "timeout = \"0\""), &["wait"]);
    assert_exit(&out, 77);
    assert!(
        text(&out).contains("for /v1/key/generate/minio-default (HTTP 403"),
        "{}",
        text(&out)
    );
}

#[test]
fn untrusted_server_certificate_fails_at_once() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    // Trust another CA than the one that signed the server.
    std::fs::write(f.path("ca.pem"), TestCa::new("other").ca_pem).unwrap();
    let out = run(&f.config(&[kes.endpoint()], "timeout = \"0\""), &["wait"]);
    assert_exit(&out, 76);
    let log = text(&out);
    assert!(
        log.contains("not trusted") && log.contains(&kes.endpoint()) && log.contains("[kes] ca"),
        "{log}"
    );
}

#[test]
fn wrong_host_name_is_untrusted() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    // 127.0.0.3 is not in the server certificate (localhost, 127.0.0.1, 127.0.0.2 are).
    let listen = format!("127.0.0.3:{}", kes.addr.port());
    let other = f.server_at(Generation::V2024, &listen, vec![minio_policy(IDENTITY)]);
    let out = run(
        &f.config(&[format!("https://{}", other.addr)], "timeout = \"0\""),
        &["wait"],
    );
    assert_exit(&out, 76);
}

#[test]
fn plain_http_port_is_a_protocol_error() {
    let f = Fixture::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming() {
            let mut s = s.unwrap();
            let _ = s.read(&mut [0u8; 1024]);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let out = run(
        &f.config(&[format!("https://localhost:{port}")], "timeout = \"0\""),
        &["wait"],
    );
    assert_exit(&out, 76);
    assert!(
        text(&out).contains("does not answer like KES"),
        "{}",
        text(&out)
    );
}

#[test]
fn any_and_all() {
    let f = Fixture::new();
    let up = f.server(Generation::V2024);
    let sealed = f.server(Generation::V2023_05);
    sealed.set_sealed(true);
    let endpoints = [sealed.endpoint(), up.endpoint()];
    let out = run(
        &f.config(&endpoints, "require = \"any\"\ntimeout = \"30s\""),
        &["wait"],
    );
    assert_exit(&out, 0);
    assert!(
        text(&out).contains(&format!("{} is ready", up.endpoint())),
        "{}",
        text(&out)
    );

    let out = run(
        &f.config(
            &endpoints,
            "require = \"all\"\ntimeout = \"1s\"\nmax_interval = \"200ms\"",
        ),
        &["wait"],
    );
    assert_exit(&out, 69);
    let log = text(&out);
    let gave_up = log
        .lines()
        .find(|l| l.contains("was not ready after"))
        .unwrap();
    assert!(
        gave_up.contains(&sealed.endpoint()) && !gave_up.contains(&up.endpoint()),
        "{log}"
    );

    let notify = NotifySocket::new();
    let child = notify.spawn(&f.config(
        &endpoints,
        "require = \"all\"\ntimeout = \"0\"\nmax_interval = \"200ms\"",
    ));
    notify.until(&format!("KES {}: key store unreachable", sealed.endpoint()));
    sealed.set_sealed(false);
    // 2024+ sees the store back at its next key-store ping.
    sealed.ping_now();
    notify.until("READY=1");
    assert_exit(&child.wait_with_output().unwrap(), 0);
}

#[test]
fn ellipses_expand_like_minio_and_all_hosts_are_probed() {
    let f = Fixture::new();
    let a = f.server(Generation::V2024);
    let b = f.server_at(
        Generation::V2024,
        &format!("127.0.0.2:{}", a.addr.port()),
        vec![minio_policy(IDENTITY)],
    );
    let endpoint = format!("https://127.0.0.{{1...2}}:{}", a.addr.port());
    let out = run(
        &f.config(&[endpoint], "require = \"all\"\ntimeout = \"30s\""),
        &["wait"],
    );
    assert_exit(&out, 0);
    // /v1/ready and the fresh probe, on each host.
    assert_eq!(a.requests().len(), 2);
    assert_eq!(b.requests().len(), 2);
}

#[test]
fn api_key_from_a_systemd_credential() {
    let f = Fixture::new();
    // Only the credential's identity is allowed; the config names none.
    let other = kesgate_identity_of(OTHER_KEY);
    let kes = f.server_at(Generation::V2024, "127.0.0.1:0", vec![minio_policy(&other)]);
    let creds = tempfile::tempdir().unwrap();
    let cred = creds.path().join("kes-api-key");
    std::fs::write(&cred, OTHER_KEY).unwrap();
    std::fs::set_permissions(&cred, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
    let config = f.config_with(&[kes.endpoint()], "", "timeout = \"0\"");
    let out = kesgate()
        .arg("--config")
        .arg(&config)
        .arg("wait")
        .env("CREDENTIALS_DIRECTORY", creds.path())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(text(&out).contains(&other), "{}", text(&out));
    // Without the credential there is no key at all: a config error.
    assert_exit(&run(&config, &["wait"]), 78);
}

/// client.pem and client.key (0600) in the fixture; the identity
/// `kesgate identity of` prints for the certificate.
fn client_pair(f: &Fixture) -> String {
    let client = TestCa::new("client-ca").server_cert(&["client"]);
    std::fs::write(f.path("client.pem"), &client.cert_pem).unwrap();
    f.write_secret("client.key", &client.key_pem);
    let out = kesgate()
        .args(["identity", "of", "--file"])
        .arg(f.path("client.pem"))
        .output()
        .unwrap();
    assert_exit(&out, 0);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

/// A KES that allows the client certificate's identity, and a
/// configuration with cert_file and key_file for it.
fn cert_auth_host(f: &Fixture) -> (Server, std::path::PathBuf) {
    let identity = client_pair(f);
    let kes = f.server_at(
        Generation::V2024,
        "127.0.0.1:0",
        vec![minio_policy(&identity)],
    );
    let auth = "cert_file = \"client.pem\"\nkey_file = \"client.key\"\n";
    let config = f.config_with(&[kes.endpoint()], auth, "timeout = \"0\"");
    (kes, config)
}

#[test]
fn client_certificate_files_authenticate_with_the_identity_kesgate_prints() {
    let f = Fixture::new();
    let (_kes, config) = cert_auth_host(&f);
    let out = run(&config, &["wait"]);
    assert_exit(&out, 0);
}

#[test]
fn key_file_readable_by_others_is_refused_with_the_fix() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let config = f.config(&[kes.endpoint()], "");
    for mode in [0o640, 0o604, 0o644] {
        std::fs::set_permissions(
            f.path("kes-api-key"),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap();
        let out = run(&config, &["wait"]);
        assert_exit(&out, 77);
        assert!(
            text(&out).contains(&format!("chmod 600 {}", f.path("kes-api-key").display())),
            "{}",
            text(&out)
        );
    }
    assert!(kes.requests().is_empty());
}

#[test]
fn sigterm_and_sigint_end_the_wait_by_that_signal() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    kes.set_sealed(true);
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let notify = NotifySocket::new();
        let child = notify.spawn(&f.config(&[kes.endpoint()], "timeout = \"0\""));
        notify.until("attempt 1,");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.signal(), Some(signal as i32), "{}", text(&out));
    }
}

#[test]
fn secrets_never_appear_in_output() {
    let f = Fixture::new();
    let kes = f.server_at(Generation::V2024, "127.0.0.1:0", vec![]);
    let secret_body = API_KEY.trim_start_matches("kes:v1:");
    let mut outputs = vec![run(
        &f.config(&[kes.endpoint()], "timeout = \"0\""),
        &["-v", "wait"],
    )];
    // A broken key in the file must not be echoed either.
    f.write_secret("kes-api-key", &API_KEY[..30]);
    outputs.push(run(&f.config(&[kes.endpoint()], ""), &["-v", "wait"]));
    f.write_secret("kes-api-key", API_KEY);
    outputs.push(
        kesgate()
            .args(["identity", "of", "--file"])
            .arg(f.path("kes-api-key"))
            .output()
            .unwrap(),
    );
    for out in &outputs {
        let t = text(out);
        assert!(
            !t.contains(secret_body) && !t.contains(&secret_body[..20]),
            "{t}"
        );
    }
}

fn kesgate_identity_of(key: &str) -> String {
    let out = identity_of_stdin(key);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

#[test]
fn unavailable_key_store_is_transient() {
    let f = Fixture::new();
    for generation in [Generation::V2024, Generation::V2023_05] {
        let kes = f.server(generation);
        kes.set_unavailable(true);
        let notify = NotifySocket::new();
        let child = notify.spawn(&f.config(
            &[kes.endpoint()],
            "timeout = \"0\"\nmax_interval = \"200ms\"",
        ));
        // 2023-05 says 502 each time; 2024+ says 502 once, then 504 until its
        // next ping (as real servers do when their Vault process is down).
        notify.until("attempt 2,");
        kes.set_unavailable(false);
        kes.ping_now();
        notify.until("READY=1");
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0);
        assert!(text(&out).contains("HTTP 502"), "{}", text(&out));
    }
}

/// KES 2023 releases verify client certificates unless run with
/// `--auth=off`: the API key's self-signed certificate gets TLS alert
/// `unknown_ca`. That is permanent, and the message says what to change.
#[test]
fn a_2023_server_verifying_client_certificates_is_named_with_the_fix() {
    let f = Fixture::new();
    for generation in [Generation::V2023_02, Generation::V2023_05] {
        let kes = Server::start(Config {
            auth: ClientAuth::ReleaseDefault,
            ..f.kes_config(generation)
        });
        let out = run(&f.config(&[kes.endpoint()], "timeout = \"30s\""), &["wait"]);
        assert_exit(&out, 77);
        let t = text(&out);
        assert!(t.contains("unknown_ca") && t.contains("self-signed"), "{t}");
        assert!(t.contains("kes server --auth=off"), "{t}");
        assert!(
            !t.contains("not reachable"),
            "not a reachability problem: {t}"
        );
    }
    // 2024+ takes any client certificate by default.
    let kes = Server::start(Config {
        auth: ClientAuth::ReleaseDefault,
        ..f.kes_config(Generation::V2024)
    });
    assert_exit(
        &run(&f.config(&[kes.endpoint()], "timeout = \"30s\""), &["wait"]),
        0,
    );
}

/// KES never redirects: a 307 (here to plain http:// on another port) is
/// "not KES" (76) with the Location shown, and is never followed.
#[test]
fn a_redirect_is_never_followed() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    *kes.state.redirect_to.lock().unwrap() = Some("http://127.0.0.1:9/v1/ready".into());
    let out = run(&f.config(&[kes.endpoint()], "timeout = \"30s\""), &["wait"]);
    assert_exit(&out, 76);
    assert!(
        text(&out).contains("redirect to http://127.0.0.1:9/v1/ready"),
        "{}",
        text(&out)
    );
    assert_eq!(kes.requests().len(), 1, "asked once, followed nowhere");
}

/// A timeout over many endpoints names a few and counts the rest: one
/// line, not one per endpoint.
#[test]
fn a_timeout_over_many_endpoints_names_a_few() {
    let f = Fixture::new();
    let out = run(
        &f.config(
            &["https://127.0.0.{1...12}:1".to_owned()],
            "timeout = \"1s\"\nkes_unit = \"\"",
        ),
        &["wait"],
    );
    assert_exit(&out, 69);
    let t = text(&out);
    let line = t
        .lines()
        .find(|l| l.contains("was not ready after"))
        .unwrap();
    assert!(line.contains("and 9 more endpoints"), "{line}");
    assert_eq!(line.matches("https://127.0.0.").count(), 3, "{line}");
}

/// A client key is MinIO's secret too: MinIO's user reads it. Owned by
/// that user (0600) or readable by MinIO's group (0640) is how
/// certificate-authenticated hosts are set up, and works; a key others may
/// read is refused with a fix that never opens it further; a link at the
/// key's path is never followed.
#[test]
fn a_client_key_minio_shares_is_accepted_and_a_public_one_refused() {
    let f = Fixture::new();
    let (_kes, config) = cert_auth_host(&f);
    let key = f.path("client.key");
    let set = |mode: u32, owner: u32| {
        std::os::unix::fs::chown(&key, Some(owner), Some(owner)).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    };
    for (mode, owner) in [(0o600, 65534), (0o640, 0), (0o400, 0)] {
        set(mode, owner);
        assert_exit(&run(&config, &["wait"]), 0);
    }
    for mode in [0o644, 0o604, 0o660] {
        set(mode, 0);
        let out = run(&config, &["wait"]);
        assert_exit(&out, 77);
        let t = text(&out);
        assert!(
            t.contains("client key") && t.contains("never public"),
            "{t}"
        );
        assert!(!t.contains("o+r"), "{t}");
        assert!(!t.contains("PRIVATE KEY"), "{t}");
    }
    set(0o600, 0);
    std::fs::rename(&key, f.path("real.key")).unwrap();
    std::os::unix::fs::symlink(f.path("real.key"), &key).unwrap();
    let out = run(&config, &["wait"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
}
