//! What kesgate's configuration says MinIO's environment must hold.

use std::path::Path;

use crate::config::{Auth, EnvFileSettings, KesSettings};
use edit::Desired;

use super::*;

/// The variables kesgate owns, as `[kes]` and `[env_file.set]` say;
/// `config` is named in the comment that heads them.
pub(crate) fn desired(kes: &KesSettings, env: &EnvFileSettings, config: &Path) -> Desired {
    let mut d = kes_desired(kes, config);
    d.set.extend(env.set.iter().cloned());
    d
}

/// The KES variables alone (what MINIO_CONFIG_ENV_FILE gets).
pub(super) fn kes_desired(kes: &KesSettings, config: &Path) -> Desired {
    let mut set = vec![
        (
            "MINIO_KMS_KES_ENDPOINT".to_owned(),
            kes.endpoints_as_written.join(","),
        ),
        (
            "MINIO_KMS_KES_KEY_NAME".to_owned(),
            kes.default_key.to_string(),
        ),
    ];
    let mut remove: Vec<(String, &'static str)> = Vec::new();
    match &kes.auth {
        Auth::ApiKey { key, .. } => {
            set.push((API_KEY.to_owned(), key.to_text().expose().clone()));
            for v in ["MINIO_KMS_KES_CERT_FILE", "MINIO_KMS_KES_KEY_FILE"] {
                remove.push((v.to_owned(), "an API key is configured; MinIO refuses both"));
            }
        }
        Auth::CertFile { cert, key } => {
            set.push(("MINIO_KMS_KES_CERT_FILE".to_owned(), absolute(cert)));
            set.push(("MINIO_KMS_KES_KEY_FILE".to_owned(), absolute(key)));
            remove.push((
                API_KEY.to_owned(),
                "a client certificate is configured; MinIO refuses both",
            ));
        }
    }
    remove.push((
        "MINIO_KMS_KES_KEY_PASSWORD".to_owned(),
        "kesgate configures unencrypted keys only",
    ));
    match &kes.ca {
        Some(ca) => set.push(("MINIO_KMS_KES_CAPATH".to_owned(), absolute(ca))),
        None => remove.push((
            "MINIO_KMS_KES_CAPATH".to_owned(),
            "[kes] ca is not set: the OS trust store is used",
        )),
    }
    remove.push((
        "MINIO_KMS_KES_ENCLAVE".to_owned(),
        "ignored by MinIO since RELEASE.2024-03-03",
    ));
    Desired {
        set,
        remove,
        marker: edit::marker(config),
    }
}

pub(super) fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_owned())
        .display()
        .to_string()
}

pub(super) fn has_secret(kes: &KesSettings) -> bool {
    matches!(kes.auth, Auth::ApiKey { .. })
}
