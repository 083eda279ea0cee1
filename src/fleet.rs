//! A distributed MinIO compares a hash of every `MINIO_*` variable across
//! its nodes, minus a skip list (docs/facts.md, "MinIO's KES client"), and refuses peers whose set
//! differs. The fleet fingerprint is a keyed MAC of exactly that set, so
//! that a monitoring system finds the odd node out — and learns nothing
//! about any value without the key every node shares (the cluster's API
//! key, or `[watch] fingerprint_key_file` with certificate auth).

use std::collections::BTreeMap;

use ring::hmac;

/// What MinIO leaves out of its comparison (cmd/bootstrap-peer-server.go).
pub(crate) const SKIPPED: [&str; 11] = [
    "MINIO_OPTS",
    "MINIO_CERT_PASSWD",
    "MINIO_SERVER_DEBUG",
    "MINIO_DSYNC_TRACE",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "MINIO_ACCESS_KEY",
    "MINIO_SECRET_KEY",
    "MINIO_OPERATOR_VERSION",
    "MINIO_VSPHERE_PLUGIN_VERSION",
    "MINIO_CI_CD",
];

/// The fingerprint of `env`'s compared set under `key` (the shared secret):
/// 128 bits of HMAC-SHA256 in hex. The MAC key is itself derived from the
/// secret with a label, so the fingerprint is no use for checking guesses
/// of the secret.
pub(crate) fn fingerprint(env: &BTreeMap<String, String>, secret: &[u8]) -> String {
    let derived = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret),
        b"kesgate fleet fingerprint v1",
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
    let mut ctx = hmac::Context::with_key(&key);
    for (name, value) in env.iter().filter(|(n, _)| compared(n)) {
        // Length-prefixed: no two sets serialise alike.
        for part in [name.as_bytes(), value.as_bytes()] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
    }
    ctx.sign().as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether MinIO's volumes name several hosts (a distributed cluster):
/// `Some(why)` when so, or when it cannot be told.
pub(crate) fn distributed(volumes: Option<&str>) -> Option<String> {
    let Some(v) = volumes.map(str::trim).filter(|v| !v.is_empty()) else {
        return Some(
            "MINIO_VOLUMES is not set in MinIO's environment, so kesgate cannot tell whether this MinIO is one of several nodes".into(),
        );
    };
    // Distributed MinIO names its nodes as URLs; drives of one node
    // (`/mnt/disk{1...4}`) are plain paths.
    v.contains("://").then(|| {
        format!(
            "MINIO_VOLUMES ({v}) names other hosts: this MinIO is a node of a distributed cluster"
        )
    })
}

/// Whether MinIO compares `name` across nodes.
pub(crate) fn compared(name: &str) -> bool {
    name.starts_with("MINIO_") && !SKIPPED.contains(&name)
}

/// The compared variables among `set` (what kesgate renders) whose value
/// names this host (`hostname`, or its first label, as a whole word): the
/// same configuration gives each node another value, and the cluster
/// refuses the odd set (docs/facts.md, "MinIO's KES client").
pub(crate) fn naming_this_host<'a>(set: &'a [(String, String)], hostname: &str) -> Vec<&'a str> {
    let full = hostname.trim().to_ascii_lowercase();
    let short = full.split('.').next().unwrap_or_default().to_owned();
    let names: Vec<&str> = [full.as_str(), short.as_str()]
        .into_iter()
        .filter(|n| n.len() >= 2 && *n != "localhost")
        .collect();
    let word = |value: &str, name: &str| {
        let value = value.to_ascii_lowercase();
        let bytes = value.as_bytes();
        let boundary =
            |i: Option<&u8>| i.is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'-'));
        value.match_indices(name).any(|(at, _)| {
            boundary(at.checked_sub(1).and_then(|i| bytes.get(i)))
                && boundary(bytes.get(at + name.len()))
        })
    };
    set.iter()
        .filter(|(n, v)| compared(n) && names.iter().any(|h| word(v, h)))
        .map(|(n, _)| n.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equal_sets_match_and_a_managed_value_does_not() {
        let a = env(&[
            ("MINIO_KMS_KES_ENDPOINT", "https://kes:7373"),
            ("MINIO_ROOT_PASSWORD", "one"),
            ("PATH", "/usr/bin"),
        ]);
        let mut b = a.clone();
        b.insert("MINIO_ROOT_PASSWORD".into(), "two".into());
        b.insert("PATH".into(), "/bin".into());
        assert_eq!(fingerprint(&a, b"k"), fingerprint(&b, b"k"));
        let mut c = a.clone();
        c.insert("MINIO_KMS_KES_ENDPOINT".into(), "https://kes:7373 ".into());
        assert_ne!(fingerprint(&a, b"k"), fingerprint(&c, b"k"));
        let mut d = a.clone();
        d.insert("MINIO_BROWSER".into(), "off".into());
        assert_ne!(fingerprint(&a, b"k"), fingerprint(&d, b"k"));
    }

    #[test]
    fn it_is_keyed_not_a_plain_hash_of_the_values() {
        use sha2::Digest as _;
        let a = env(&[("MINIO_KMS_KES_KEY_NAME", "minio-default")]);
        assert_ne!(
            fingerprint(&a, b"cluster key"),
            fingerprint(&a, b"other key")
        );
        let plain = sha2::Sha256::digest(b"MINIO_KMS_KES_KEY_NAME=minio-default");
        let plain: String = plain[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_ne!(fingerprint(&a, b""), plain);
        assert_eq!(fingerprint(&a, b"k").len(), 32);
    }

    #[test]
    fn names_and_values_cannot_run_into_each_other() {
        let a = env(&[("MINIO_A", "BC")]);
        let b = env(&[("MINIO_AB", "C")]);
        assert_ne!(fingerprint(&a, b"k"), fingerprint(&b, b"k"));
    }

    #[test]
    fn a_value_naming_this_host_is_found_as_a_word() {
        let set: Vec<(String, String)> = [
            ("MINIO_KMS_KES_CERT_FILE", "/etc/kesgate/node1.pem"),
            (
                "MINIO_KMS_KES_ENDPOINT",
                "https://kes1:7373,https://kes2:7373",
            ),
            ("MINIO_KMS_KES_KEY_NAME", "node10-key"),
            ("MINIO_ROOT_USER", "node1"),
            ("KESGATE_OTHER", "node1"),
            ("MINIO_SERVER_URL", "https://NODE1.example.com"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            naming_this_host(&set, "node1.example.com\n"),
            ["MINIO_KMS_KES_CERT_FILE", "MINIO_SERVER_URL"]
        );
        assert!(naming_this_host(&set, "kes").is_empty(), "kes1 is not kes");
        assert!(
            naming_this_host(&set, "x").is_empty(),
            "one letter names nothing"
        );
        assert!(naming_this_host(&set, "localhost").is_empty());
    }

    #[test]
    fn volumes_on_other_hosts_or_unknown_need_a_shared_key() {
        assert!(distributed(Some("/var/lib/minio")).is_none());
        assert!(distributed(Some("/mnt/disk{1...4}")).is_none());
        assert!(
            distributed(Some(
                "https://minio{1...4}.example.net:9000/mnt/disk{1...4}"
            ))
            .is_some()
        );
        assert!(distributed(None).is_some());
        assert!(distributed(Some("  ")).is_some());
    }
}
