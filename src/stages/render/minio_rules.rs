//! MinIO's KMS configuration rules (internal/kms/config.go), applied to the
//! values systemd will hand it. A variable that is present counts, even empty.

use std::collections::BTreeMap;

pub(crate) use crate::kes_types::MINIO_KES_VARS as KES_VARS;
/// MinIO KMS (MinKMS): another key server; switching loses access to data.
pub(crate) const MINKMS_VARS: [&str; 4] = [
    "MINIO_KMS_SERVER",
    "MINIO_KMS_ENCLAVE",
    "MINIO_KMS_API_KEY",
    "MINIO_KMS_SSE_KEY",
];

/// The other KMS families present, as MinIO sees them: MinKMS variables
/// count even when empty; an empty static key, or a key file that is empty
/// or missing, is unset by MinIO first.
pub(crate) fn other_families(env: &BTreeMap<String, String>) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = MINKMS_VARS
        .iter()
        .copied()
        .filter(|v| env.contains_key(*v))
        .collect();
    if env
        .get("MINIO_KMS_SECRET_KEY")
        .is_some_and(|v| !v.is_empty())
    {
        found.push("MINIO_KMS_SECRET_KEY");
    }
    if env
        .get("MINIO_KMS_SECRET_KEY_FILE")
        .is_some_and(|v| !v.is_empty() && std::path::Path::new(v).exists())
    {
        found.push("MINIO_KMS_SECRET_KEY_FILE");
    }
    found
}

/// Why MinIO would refuse to start with `env` ("Invalid KMS configuration
/// specified"); empty when it accepts it. No KMS at all is accepted.
pub(crate) fn problems(env: &BTreeMap<String, String>) -> Vec<String> {
    let has = |v: &str| env.contains_key(v);
    let kes = KES_VARS[..7].iter().any(|v| has(v));
    let others = other_families(env);
    let mut out = Vec::new();
    if kes && !others.is_empty() {
        out.push(format!(
            "KES variables and {} are both present",
            others.join(", ")
        ));
    }
    if !kes {
        return out;
    }
    let endpoints = env.get("MINIO_KMS_KES_ENDPOINT").map_or(0, |e| {
        e.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .count()
    });
    if !has("MINIO_KMS_KES_ENDPOINT") {
        out.push("missing 'MINIO_KMS_KES_ENDPOINT'".into());
    } else if endpoints == 0 {
        out.push("no KES server endpoint provided".into());
    }
    if !has("MINIO_KMS_KES_KEY_NAME") {
        out.push("missing 'MINIO_KMS_KES_KEY_NAME'".into());
    }
    let cert_method = [
        "MINIO_KMS_KES_KEY_FILE",
        "MINIO_KMS_KES_CERT_FILE",
        "MINIO_KMS_KES_KEY_PASSWORD",
    ]
    .iter()
    .any(|v| has(v));
    if cert_method {
        if has("MINIO_KMS_KES_API_KEY") {
            out.push("'MINIO_KMS_KES_API_KEY' and client certificate is present".into());
        }
        for v in ["MINIO_KMS_KES_CERT_FILE", "MINIO_KMS_KES_KEY_FILE"] {
            if !has(v) {
                out.push(format!("missing '{v}'"));
            }
        }
    } else if !has("MINIO_KMS_KES_API_KEY") {
        out.push("missing authentication method".into());
    } else if env
        .get("MINIO_KMS_KES_API_KEY")
        .is_some_and(String::is_empty)
    {
        out.push("'MINIO_KMS_KES_API_KEY' is empty".into());
    }
    out
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
    fn minio_rules() {
        let ok = [
            ("MINIO_KMS_KES_ENDPOINT", "https://k:7373"),
            ("MINIO_KMS_KES_KEY_NAME", "k"),
            ("MINIO_KMS_KES_API_KEY", "kes:v1:x"),
        ];
        assert!(problems(&env(&ok)).is_empty());
        assert!(problems(&env(&[])).is_empty());
        let mut blank_cert = ok.to_vec();
        blank_cert.push(("MINIO_KMS_KES_KEY_FILE", ""));
        assert!(
            problems(&env(&blank_cert))
                .iter()
                .any(|p| p.contains("client certificate is present"))
        );
        let mut sse = ok.to_vec();
        sse.push(("MINIO_KMS_SSE_KEY", ""));
        assert!(!problems(&env(&sse)).is_empty());
        let mut empty_static = ok.to_vec();
        empty_static.push(("MINIO_KMS_SECRET_KEY", ""));
        assert!(problems(&env(&empty_static)).is_empty());
        assert!(!problems(&env(&[("MINIO_KMS_KES_CAPATH", "/ca")])).is_empty());
        assert!(
            problems(&env(&[
                ("MINIO_KMS_KES_ENDPOINT", " , "),
                ("MINIO_KMS_KES_KEY_NAME", "k"),
                ("MINIO_KMS_KES_API_KEY", "x")
            ]))
            .iter()
            .any(|p| p.contains("no KES server endpoint"))
        );
    }
}
