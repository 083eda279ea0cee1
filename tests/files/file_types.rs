//! Every file kesgate reads must be a regular file (or a link to one): a
//! FIFO would block its only thread (and with it SIGTERM), a device may do
//! anything on open. Each reader, given each other kind of file, ends at
//! once with exit 78 naming the path and what is there; a link to a
//! regular file is that file. And the env file kesgate replaces: a link
//! stays a link (its target is replaced), ACLs and xattrs are kept.

#[path = "../common/mod.rs"]
mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// What kind of thing to put at a path, and how its error names it.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Fifo,
    Device,
    Directory,
    Dangling,
}

const SHAPES: [Shape; 4] = [
    Shape::Fifo,
    Shape::Device,
    Shape::Directory,
    Shape::Dangling,
];

impl Shape {
    fn make(self, path: &Path) {
        let _ = fs::remove_file(path);
        match self {
            Shape::Fifo => {
                nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()
            }
            // /dev/null's numbers; a link to /dev/null where mknod is not allowed.
            Shape::Device => {
                if nix::sys::stat::mknod(
                    path,
                    nix::sys::stat::SFlag::S_IFCHR,
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                    nix::sys::stat::makedev(1, 3),
                )
                .is_err()
                {
                    symlink("/dev/null", path).unwrap();
                }
            }
            Shape::Directory => fs::create_dir(path).unwrap(),
            Shape::Dangling => symlink(path.with_extension("gone"), path).unwrap(),
        }
    }

    fn said(self) -> &'static str {
        match self {
            Shape::Fifo => "is a FIFO (named pipe), not a regular file",
            Shape::Device => "a character device",
            Shape::Directory => "a directory",
            Shape::Dangling => "which does not exist",
        }
    }
}

fn refused(out: &Output, path: &Path, shape: Shape) {
    let t = text(out);
    assert_eq!(
        out.status.code(),
        Some(78),
        "{shape:?} at {}:\n{t}",
        path.display()
    );
    assert!(
        t.contains(&path.display().to_string()) && t.contains(shape.said()),
        "{shape:?} at {}: the message must name both:\n{t}",
        path.display()
    );
}

/// A config whose env file is `minio` in the fixture.
fn config(f: &Fixture, extra: &str) -> PathBuf {
    f.config_plus(
        &["https://127.0.0.1:1".to_owned()],
        "timeout = \"1s\"",
        &format!("[env_file]\npath = \"minio\"\n{extra}"),
    )
}

#[test]
fn the_config_file() {
    let f = Fixture::new();
    for shape in SHAPES {
        let cfg = f.path("other.toml");
        shape.make(&cfg);
        refused(&run_bounded(&cfg, &["render", "--check"], &[]), &cfg, shape);
        let _ = fs::remove_dir(&cfg);
    }
}

#[test]
fn the_api_key_file() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    let key = f.path("kes-api-key");
    for shape in SHAPES {
        let _ = fs::remove_dir(&key);
        shape.make(&key);
        refused(&run_bounded(&cfg, &["render", "--check"], &[]), &key, shape);
    }
    // A link to a private regular file is that file.
    let _ = fs::remove_file(&key);
    let real = f.write_secret("real-key", API_KEY);
    symlink(&real, &key).unwrap();
    let out = run_bounded(&cfg, &["render", "--dry-run"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn the_credentials_directory() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    let dir = f.path("credentials");
    fs::create_dir(&dir).unwrap();
    let key = dir.join("kes-api-key");
    for shape in SHAPES {
        let _ = fs::remove_dir(&key);
        shape.make(&key);
        let out = run_bounded(
            &cfg,
            &["render", "--check"],
            &[("CREDENTIALS_DIRECTORY", &dir)],
        );
        refused(&out, &key, shape);
    }
}

#[test]
fn the_ca() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    let ca = f.path("ca.pem");
    // A directory is a CA directory (MinIO's rule): its files are read.
    for shape in [Shape::Fifo, Shape::Device, Shape::Dangling] {
        let _ = fs::remove_file(&ca);
        shape.make(&ca);
        let out = run_bounded(&cfg, &["wait"], &[]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(78), "{shape:?}:\n{t}");
        assert!(t.contains(&ca.display().to_string()), "{shape:?}:\n{t}");
    }
    // In a CA directory, a FIFO is skipped (MinIO would block on it), not read.
    let _ = fs::remove_file(&ca);
    fs::create_dir(&ca).unwrap();
    fs::write(ca.join("ca.pem"), &f.ca.ca_pem).unwrap();
    Shape::Fifo.make(&ca.join("fifo.pem"));
    let out = run_bounded(&cfg, &["wait"], &[]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
}

#[test]
fn the_env_file_read_and_replaced() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    let env = f.path("minio");
    for shape in SHAPES {
        let _ = fs::remove_dir(&env);
        shape.make(&env);
        for args in [&["render", "--check"][..], &["render"][..]] {
            let out = run_bounded(&cfg, args, &[]);
            refused(&out, &env, shape);
            assert!(
                !f.path("minio.kesgate-prev").exists(),
                "{args:?}: nothing written"
            );
        }
    }
}

#[test]
fn a_symlinked_env_file_stays_a_link_and_its_target_is_replaced() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    let managed = f.path("managed");
    fs::create_dir(&managed).unwrap();
    let target = managed.join("minio.env");
    fs::write(&target, "# the operator's tooling\nMINIO_ROOT_USER=admin\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    let env = f.path("minio");
    symlink("managed/minio.env", &env).unwrap();
    let out = run_bounded(&cfg, &["render"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(fs::symlink_metadata(&env).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_link(&env).unwrap(), Path::new("managed/minio.env"));
    let now = fs::read_to_string(&target).unwrap();
    assert!(
        now.starts_with("# the operator's tooling\nMINIO_ROOT_USER=admin\n"),
        "{now}"
    );
    assert!(now.contains("MINIO_KMS_KES_API_KEY="), "{now}");
    // The previous content sits next to the target, in its directory.
    assert!(managed.join("minio.env.kesgate-prev").exists());
    assert!(!f.path("minio.kesgate-prev").exists());
}

#[test]
fn acls_and_extended_attributes_of_the_env_file_are_kept() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    let env = f.path("minio");
    fs::write(&env, "MINIO_ROOT_USER=admin\n").unwrap();
    fs::set_permissions(&env, fs::Permissions::from_mode(0o640)).unwrap();
    // user::rw- user:1234:r-- group::--- mask::r-- other::--- (ACL xattr v2).
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 6u16, u32::MAX),
        (0x02, 4, 1234),
        (0x04, 0, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        acl.extend(tag.to_le_bytes());
        acl.extend(perm.to_le_bytes());
        acl.extend(id.to_le_bytes());
    }
    xattr::set(&env, "system.posix_acl_access", &acl).unwrap();
    xattr::set(&env, "user.backup-policy", b"nightly").unwrap();
    let before = fs::metadata(&env).unwrap().permissions().mode() & 0o777;
    let out = run_bounded(&cfg, &["render"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        fs::read_to_string(&env)
            .unwrap()
            .contains("MINIO_KMS_KES_API_KEY=")
    );
    assert_eq!(
        xattr::get(&env, "user.backup-policy").unwrap().as_deref(),
        Some(&b"nightly"[..])
    );
    // The file holds the API key now: its group bits (the ACL mask) are
    // cleared, but the named entry stays for the operator to see.
    let kept = xattr::get(&env, "system.posix_acl_access")
        .unwrap()
        .unwrap();
    assert_eq!(kept.len(), acl.len());
    assert_eq!(
        &kept[16..20],
        &1234u32.to_le_bytes(),
        "the named user entry"
    );
    assert_eq!(before & 0o070, 0o040);
    assert_eq!(fs::metadata(&env).unwrap().permissions().mode() & 0o077, 0);
}

#[test]
fn permanent_env_file_problems_are_configuration_errors() {
    let f = Fixture::new();
    // No such directory: 78, not the 73 a full disk gets.
    let cfg = config(&f, "").to_owned();
    let text_cfg = fs::read_to_string(&cfg).unwrap().replace(
        "path = \"minio\"",
        &format!("path = \"{}\"", f.path("nowhere/minio").display()),
    );
    fs::write(&cfg, text_cfg).unwrap();
    let out = run_bounded(&cfg, &["render"], &[]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    // A directory where the previous content goes.
    let cfg = config(&f, "");
    fs::write(f.path("minio"), "MINIO_ROOT_USER=admin\n").unwrap();
    fs::create_dir(f.path("minio.kesgate-prev")).unwrap();
    let out = run_bounded(&cfg, &["render"], &[]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("minio.kesgate-prev is a directory"),
        "{}",
        text(&out)
    );
    assert_eq!(
        fs::read_to_string(f.path("minio")).unwrap(),
        "MINIO_ROOT_USER=admin\n"
    );
}

#[test]
fn an_api_key_file_of_another_user_is_refused() {
    let f = Fixture::new();
    let cfg = config(&f, "");
    let key = f.path("kes-api-key");
    nix::unistd::chown(&key, Some(nix::unistd::Uid::from_raw(4242)), None).unwrap();
    let out = run_bounded(&cfg, &["render", "--check"], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(77), "{t}");
    assert!(
        t.contains("belongs to uid 4242") && t.contains("chown root:"),
        "{t}"
    );
}
