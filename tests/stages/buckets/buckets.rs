//! `kesgate buckets`: against the MinIO stand-in (cluster health, key checked
//! with KES, kms:KeyNotFound) and against moto, a third-party S3.

#[path = "../../common/mod.rs"]
mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use kes_test_server::MinioStandIn;

const USER: &str = "minio-admin";
const PASSWORD: &str = "s3cr3t-minio-password";

struct Setup {
    f: Fixture,
    kes: Server,
    minio: MinioStandIn,
}

fn setup() -> Setup {
    let f = Fixture::new();
    let kes = f.server(Generation::V2024);
    let minio = MinioStandIn::start(USER, PASSWORD, kes.state.clone());
    fs::write(
        f.path("minio"),
        format!("MINIO_ROOT_USER={USER}\nMINIO_ROOT_PASSWORD=\"{PASSWORD}\"\n"),
    )
    .unwrap();
    Setup { f, kes, minio }
}

fn config(s: &Setup, endpoint: &str, buckets: &str) -> PathBuf {
    let p = s.f.config(
        &[s.kes.endpoint()],
        "timeout = \"30s\"\nmax_interval = \"200ms\"",
    );
    let mut text = fs::read_to_string(&p).unwrap();
    text.push_str(&format!("[env_file]\npath = \"minio\"\n\n[minio]\nendpoint = \"{endpoint}\"\n\n[[keys]]\nname = \"bucket-key\"\n\n{buckets}"));
    fs::write(&p, text).unwrap();
    p
}

const ONE: &str = "[[buckets]]\nname = \"encrypted-bucket\"\nkey = \"bucket-key\"\ncreate = true\n";

#[test]
fn waits_for_cluster_health_then_creates_and_encrypts_once() {
    let s = setup();
    let cfg = config(&s, &s.minio.endpoint(), ONE);
    assert_eq!(run(&cfg, &["keys"]).status.code(), Some(0));
    let notify = NotifySocket::new();
    let child = notify.spawn_command(&cfg, "buckets");
    notify.until("cluster not ready (HTTP 503)");
    s.minio.set_healthy(true);
    notify.until("READY=1");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out)
            .contains("bucket encrypted-bucket: created, and set SSE-KMS with key bucket-key"),
        "{}",
        text(&out)
    );
    assert_eq!(
        s.minio.encryption("encrypted-bucket"),
        Some(("aws:kms".into(), "bucket-key".into()))
    );
    // Already right: no write.
    let out = run(&cfg, &["buckets"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("already SSE-KMS with key bucket-key; not changed"),
        "{}",
        text(&out)
    );
    assert_eq!(
        s.minio
            .state
            .encryption_puts
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(!text(&out).contains(PASSWORD));
}

#[test]
fn missing_other_key_and_unknown_key_are_reported_and_the_rest_goes_on() {
    let s = setup();
    s.minio.set_healthy(true);
    s.minio.add_bucket("other-key", Some("<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>old-key</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"));
    s.minio.add_bucket("plain", None);
    s.minio.add_bucket("no-kes-key", None);
    let buckets = "[[buckets]]\nname = \"absent\"\n\n[[buckets]]\nname = \"other-key\"\nkey = \"bucket-key\"\n\n[[buckets]]\nname = \"no-kes-key\"\nkey = \"never-created\"\n\n[[buckets]]\nname = \"plain\"\nkey = \"bucket-key\"\n";
    let cfg = config(&s, &s.minio.endpoint(), buckets);
    assert_eq!(run(&cfg, &["keys"]).status.code(), Some(0));
    let out = run(&cfg, &["buckets"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("bucket absent: does not exist; fix: create it, or set create = true"),
        "{t}"
    );
    assert!(
        t.contains("bucket other-key: encrypted with aws:kms with key old-key")
            && t.contains("set replace = true"),
        "{t}"
    );
    assert!(
        t.contains("404 kms:KeyNotFound") && t.contains("run `kesgate keys`"),
        "{t}"
    );
    assert!(
        t.contains("bucket plain: set SSE-KMS with key bucket-key"),
        "{t}"
    );
    assert!(t.contains("1 of 4 bucket(s) encrypted"), "{t}");
    assert_eq!(s.minio.encryption("other-key").unwrap().1, "old-key");

    // replace = true changes it.
    let cfg = config(
        &s,
        &s.minio.endpoint(),
        "[[buckets]]\nname = \"other-key\"\nkey = \"bucket-key\"\nreplace = true\n",
    );
    assert_eq!(run(&cfg, &["buckets"]).status.code(), Some(0));
    assert_eq!(s.minio.encryption("other-key").unwrap().1, "bucket-key");
}

#[test]
fn wrong_credentials_and_exposed_key_files() {
    let s = setup();
    s.minio.set_healthy(true);
    fs::write(
        s.f.path("minio"),
        "MINIO_ROOT_USER=someone-else\nMINIO_ROOT_PASSWORD=x\n",
    )
    .unwrap();
    let out = run(&config(&s, &s.minio.endpoint(), ONE), &["buckets"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("access denied: check the MinIO credentials"),
        "{}",
        text(&out)
    );

    fs::write(s.f.path("minio"), "MINIO_ROOT_USER=admin\n").unwrap();
    let out = run(&config(&s, &s.minio.endpoint(), ONE), &["buckets"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        text(&out).contains("has no MINIO_ROOT_PASSWORD"),
        "{}",
        text(&out)
    );

    // Key files: used when configured, refused when others can read them.
    s.f.write_secret("access", USER);
    fs::write(s.f.path("secret"), PASSWORD).unwrap();
    let p = config(&s, &s.minio.endpoint(), ONE);
    let text_cfg = fs::read_to_string(&p).unwrap().replace(
        "[minio]\n",
        "[minio]\naccess_key_file = \"access\"\nsecret_key_file = \"secret\"\n",
    );
    fs::write(&p, text_cfg).unwrap();
    let out = run(&p, &["buckets"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    s.f.write_secret("secret", PASSWORD);
    assert_eq!(run(&p, &["keys"]).status.code(), Some(0));
    let out = run(&p, &["buckets"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn eight_concurrent_runs_end_in_one_creation_per_bucket() {
    let s = setup();
    s.minio.set_healthy(true);
    let buckets = format!("{ONE}\n[[buckets]]\nname = \"second\"\ncreate = true\n");
    let cfg = config(&s, &s.minio.endpoint(), &buckets);
    for out in run_concurrently(&cfg, &["keys"], 8) {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    for out in run_concurrently(&cfg, &["buckets"], 8) {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    assert_eq!(
        s.minio
            .state
            .bucket_creations
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(
        s.minio.encryption("encrypted-bucket").unwrap().1,
        "bucket-key"
    );
    assert_eq!(s.minio.encryption("second").unwrap().1, "minio-default");
    let single = run(&cfg, &["buckets"]);
    assert!(
        text(&single).contains("2 of 2 bucket(s) encrypted"),
        "{}",
        text(&single)
    );
}

/// moto (PyPI `moto[server]`), a third-party S3 implementation, behind a
/// shim that answers MinIO's health check and passes every other connection
/// through byte for byte.
struct Moto {
    child: std::process::Child,
    shim_port: u16,
    moto_port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's own server on a port the OS picks (bound by moto itself, so no
/// other test can take it between a probe and the bind), reported on its
/// first line of output; it runs until killed.
const MOTO: &str = "import sys, threading\nfrom moto.server import ThreadedMotoServer\ns = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\ns.start()\nprint(s.get_host_and_port()[1], flush=True)\nthreading.Event().wait()\n";

fn start_moto() -> Moto {
    use std::io::{BufRead, Read, Write};
    use std::net::{TcpListener, TcpStream};
    let mut child = std::process::Command::new("python3")
        .args(["-c", MOTO])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 with moto[server] (pip install 'moto[server]')");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let moto_port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("moto did not start: {line:?}"));
    let shim = TcpListener::bind("127.0.0.1:0").unwrap();
    let shim_port = shim.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in shim.incoming().flatten() {
            std::thread::spawn(move || {
                let mut client = client;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                if head.starts_with(b"GET /minio/health/cluster ") {
                    let _ = client.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", moto_port)) else {
                    return;
                };
                let _ = upstream.write_all(&head);
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut upstream, &mut client);
            });
        }
    });
    Moto {
        child,
        shim_port,
        moto_port,
    }
}

/// Reads the bucket's encryption through boto3, moto's own client side.
fn boto3_encryption(moto_port: u16, bucket: &str) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import boto3,sys; c=boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1'); d=c.get_bucket_encryption(Bucket=sys.argv[2])['ServerSideEncryptionConfiguration']['Rules'][0]['ApplyServerSideEncryptionByDefault']; print(d['SSEAlgorithm'], d['KMSMasterKeyID'])")
        .arg(format!("http://127.0.0.1:{moto_port}"))
        .arg(bucket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn against_moto_creates_puts_and_reads_back() {
    let s = setup();
    let moto = start_moto();
    let cfg = config(
        &s,
        &format!("http://127.0.0.1:{}", moto.shim_port),
        &format!("{ONE}\n[[buckets]]\nname = \"default-key-bucket\"\ncreate = true\n"),
    );
    let out = run(&cfg, &["buckets"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out)
            .contains("bucket encrypted-bucket: created, and set SSE-KMS with key bucket-key"),
        "{}",
        text(&out)
    );
    assert_eq!(
        boto3_encryption(moto.moto_port, "encrypted-bucket"),
        "aws:kms bucket-key"
    );
    assert_eq!(
        boto3_encryption(moto.moto_port, "default-key-bucket"),
        "aws:kms minio-default"
    );
    let out = run(&cfg, &["buckets"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        text(&out).matches("not changed").count(),
        2,
        "{}",
        text(&out)
    );
}

/// TLS errors name the section they come from: a bad `[minio] ca` says
/// `[minio]`, never "set [kes] ca" (TLS is one module for both clients).
#[test]
fn a_bad_minio_ca_names_the_minio_section() {
    let s = setup();
    let cfg = config(&s, "https://127.0.0.1:9", ONE);
    let text_cfg = fs::read_to_string(&cfg).unwrap().replace(
        "endpoint = \"https://127.0.0.1:9\"",
        "endpoint = \"https://127.0.0.1:9\"\nca = \"no-such-ca.pem\"",
    );
    fs::write(&cfg, text_cfg).unwrap();
    let out = run(&cfg, &["buckets"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("[minio] ca") && t.contains("no-such-ca.pem"),
        "{t}"
    );
    assert!(!t.contains("[kes] ca"), "{t}");
    fs::write(s.f.path("empty-ca.pem"), "not a certificate\n").unwrap();
    let text_cfg = fs::read_to_string(&cfg)
        .unwrap()
        .replace("no-such-ca.pem", "empty-ca.pem");
    fs::write(&cfg, text_cfg).unwrap();
    let out = run(&cfg, &["buckets"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("[minio] ca") && text(&out).contains("no PEM certificate"),
        "{}",
        text(&out)
    );
}

/// A host without `[[buckets]]`: kesgate-buckets.service is done at once
/// (no wait for MinIO's health, which is not even running here).
#[test]
fn no_buckets_configured_is_done_at_once() {
    let f = Fixture::new();
    let cfg = f.config_plus(
        &["https://localhost:1".to_owned()],
        "timeout = \"15m\"",
        "[minio]\nendpoint = \"http://127.0.0.1:9\"\n",
    );
    let notify = NotifySocket::new();
    let out = notify
        .spawn_command(&cfg, "buckets")
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("no buckets configured"),
        "{}",
        text(&out)
    );
    let sent = notify.drain();
    assert!(
        sent.iter()
            .any(|m| m.contains("READY=1") && m.contains("STATUS=no buckets configured")),
        "{sent:?}"
    );
}
