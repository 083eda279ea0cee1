//! MinIO can read what it is given: the CA path rendered as
//! MINIO_KMS_KES_CAPATH (and, in certificate mode, the client certificate
//! and key) must be readable by the user MinIO runs as. MinIO silently
//! ignores a CA it cannot read and then fails TLS; kesgate refuses with 78
//! and the command that fixes it.

#[path = "../common/mod.rs"]
mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

fn chmod(p: &std::path::Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// kesgate.toml with `[kes] ca` at `ca` and MinIO running as `user`.
fn config_as(f: &Fixture, endpoint: &str, ca: &std::path::Path, user: &str) -> std::path::PathBuf {
    let cfg = f.config(&[endpoint.to_owned()], "timeout = \"5s\"\nkes_unit = \"\"");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("ca = \"ca.pem\"", &format!("ca = {ca:?}"));
    std::fs::write(&cfg, format!("{text}\n[minio]\nuser = \"{user}\"\n")).unwrap();
    cfg
}

#[test]
fn a_private_ca_file_or_a_closed_directory_is_refused_with_the_fix() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    chmod(f.dir.path(), 0o755);
    let dir = f.path("tls");
    std::fs::create_dir(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::copy(f.path("ca.pem"), &ca).unwrap();
    chmod(&dir, 0o755);
    // 0600, owned by us (root in CI): nobody cannot read it.
    chmod(&ca, 0o600);
    let cfg = config_as(&f, &kes.endpoint(), &ca, "nobody");
    let out = run(&cfg, &["wait"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&ca.display().to_string()) && t.contains("nobody"),
        "{t}"
    );
    assert!(t.contains(&format!("chmod o+r {}", ca.display())), "{t}");
    assert!(t.contains("[kes] ca"), "names the section: {t}");
    assert!(kes.requests().is_empty(), "refused before any request");

    // Readable file, but a 0700 directory on the path.
    chmod(&ca, 0o644);
    chmod(&dir, 0o700);
    let out = run(&cfg, &["wait"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("chmod o+x {}", dir.display())),
        "{}",
        text(&out)
    );

    // Fixed: ready.
    chmod(&dir, 0o755);
    assert_eq!(run(&cfg, &["wait"]).status.code(), Some(0));
    // MinIO as root reads anything.
    chmod(&ca, 0o600);
    let cfg = config_as(&f, &kes.endpoint(), &ca, "root");
    assert_eq!(run(&cfg, &["wait"]).status.code(), Some(0));
}

#[test]
fn unreadable_files_in_a_ca_directory_are_skipped_as_minio_skips_them() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    chmod(f.dir.path(), 0o755);
    let dir = f.path("cas");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    let ca = dir.join("kes-ca.pem");
    std::fs::copy(f.path("ca.pem"), &ca).unwrap();
    chmod(&ca, 0o600);
    let cfg = config_as(&f, &kes.endpoint(), &dir, "nobody");
    // The one CA that matters is unreadable for MinIO: MinIO would not
    // trust KES, so neither does kesgate (76), and it says why.
    let out = run(&cfg, &["wait"]);
    assert_eq!(out.status.code(), Some(76), "{}", text(&out));
    assert!(
        text(&out).contains("MinIO's user cannot read it"),
        "{}",
        text(&out)
    );
    chmod(&ca, 0o644);
    assert_eq!(run(&cfg, &["wait"]).status.code(), Some(0));
}

#[test]
fn a_client_key_minio_cannot_read_is_refused() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    chmod(f.dir.path(), 0o755);
    let cert = f.ca.server_cert(&["minio"]);
    let (cert_file, key_file) = (f.path("client.crt"), f.path("client.key"));
    std::fs::write(&cert_file, &cert.cert_pem).unwrap();
    std::fs::write(&key_file, &cert.key_pem).unwrap();
    chmod(&cert_file, 0o644);
    chmod(&key_file, 0o600);
    let cfg = f.config_with(
        &[kes.endpoint()],
        &format!("cert_file = {cert_file:?}\nkey_file = {key_file:?}\n"),
        "timeout = \"5s\"\nkes_unit = \"\"",
    );
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text_cfg}\n[minio]\nuser = \"nobody\"\n")).unwrap();
    let out = run(&cfg, &["wait"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains(&key_file.display().to_string()),
        "{}",
        text(&out)
    );
}

/// MinIO trusts the system roots plus the CA path. kesgate reads the
/// system roots only when the CA path alone cannot decide — so a KES whose
/// CA is among the system roots (here: SSL_CERT_FILE, which Go and kesgate
/// both honour) is trusted although `[kes] ca` names another CA, and the
/// same KES is refused once the system roots no longer hold its CA.
#[test]
fn the_system_roots_still_count_beside_a_ca_path_that_does_not_decide() {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let other = Fixture::new();
    let cfg = f.config(&[kes.endpoint()], "timeout = \"3s\"\nkes_unit = \"\"");
    let config = std::fs::read_to_string(&cfg).unwrap().replace(
        "ca = \"ca.pem\"",
        &format!("ca = {:?}", other.path("ca.pem")),
    );
    std::fs::write(&cfg, config).unwrap();
    let empty = f.path("no-certs");
    std::fs::create_dir(&empty).unwrap();

    let mut cmd = kesgate_for(&cfg);
    cmd.args(["wait"])
        .env("SSL_CERT_FILE", f.path("ca.pem"))
        .env("SSL_CERT_DIR", &empty);
    let out = run_guarded(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let mut cmd = kesgate_for(&cfg);
    cmd.args(["wait"])
        .env("SSL_CERT_FILE", other.path("ca.pem"))
        .env("SSL_CERT_DIR", &empty);
    let out = run_guarded(&mut cmd);
    assert_eq!(out.status.code(), Some(76), "{}", text(&out));
    assert!(text(&out).contains("not trusted"), "{}", text(&out));
}
