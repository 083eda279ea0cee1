//! What `kesgate init` writes: a configuration drafted from MinIO's
//! environment (`--adopt`) or from the command line (a new installation),
//! as deterministic text — the same inputs give the same bytes on every
//! node (stable order, no host names, no timestamps) — and the refusals
//! that leave every file as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::secret::Secret;

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    #[error(
        "{files}: no KES configuration (MINIO_KMS_KES_ENDPOINT is not set), so there is nothing to adopt; nothing was written\n  fix: for a new installation run `kesgate init --endpoint https://KES:7373 --ca CA.pem`"
    )]
    NoKes { files: String },
    #[error(
        "{files} configure{s} another KMS ({found}); kesgate manages KES only; nothing was written\n  fix: keep that KMS without kesgate, or move MinIO to KES yourself first (data encrypted with the old KMS needs it)",
        s = if files.contains(" and ") { "" } else { "s" }
    )]
    OtherKms { files: String, found: String },
    #[error(
        "{name} is set differently in {first} and {second} (MinIO uses {second}'s); nothing was written\n  fix: make the two files agree (or remove it from one), then run `kesgate init --adopt` again"
    )]
    Conflict {
        name: String,
        first: String,
        second: String,
    },
    #[error(
        "{path}: MINIO_KMS_KES_KEY_PASSWORD is set: MinIO uses an encrypted client key, which kesgate does not support; nothing was written\n  fix: decrypt the key (`openssl pkey -in KEY -out KEY.plain`, readable only by MinIO's user or group: chmod 600 or 640), point MINIO_KMS_KES_KEY_FILE at it and remove MINIO_KMS_KES_KEY_PASSWORD, then run `kesgate init --adopt` again"
    )]
    EncryptedKey { path: String },
    #[error("{what}: {why}; nothing was written\n  fix: {fix}")]
    Invalid {
        what: String,
        why: String,
        fix: &'static str,
    },
    #[error(
        "adopting would change what MinIO reads: kesgate's first render would rewrite {files} (the masked diff is on standard output); nothing was written\n  fix: review that change; run `kesgate init --adopt --accept-changes` to adopt it anyway (the next render applies it), or edit the file first"
    )]
    WouldChange { files: String },
    #[error(
        "with kesgate in charge, MinIO's next start would be held back for what does not stop it today:\n{}\nnothing was written\n  fix: fix the above first (recommended), or run `kesgate init --adopt --force` to adopt anyway",
        what.iter().map(|w| format!("  - {w}")).collect::<Vec<_>>().join("\n")
    )]
    WouldBlock { what: Vec<String> },
    #[error(
        "{path} exists and differs from what init would write; nothing was written\n  fix: compare with `kesgate init{args} --dry-run`; run again with --force to replace it (the old one is kept as {path}.kesgate-prev)"
    )]
    Exists { path: String, args: String },
    #[error(
        "{why}: MinIO needs one API key for the whole cluster, so init does not make a key on this host; nothing was written\n  fix: create the key once (`kesgate identity new`), put the same file on every node (mode 600), and pass it with --api-key-file FILE"
    )]
    SharedKeyNeeded { why: String },
    #[error("{0}\n  fix: see `kesgate init --help`")]
    Usage(String),
    #[error(
        "cannot write {path}: {source}\n  fix: check that file system (read-only? full?) and run `kesgate init` again"
    )]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot write {path}: {source}; written: {written}; not written: {config}, so kesgate is not configured and MinIO starts as before\n  fix: check that file system (read-only? full?) and run `kesgate init` again"
    )]
    WrotePart {
        path: String,
        source: std::io::Error,
        written: String,
        config: String,
    },
}

/// How the drafted configuration authenticates to KES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DraftAuth {
    ApiKeyFile(PathBuf),
    CertFile { cert: PathBuf, key: PathBuf },
}

/// The configuration `init` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Draft {
    /// The first line's account of where it came from.
    pub origin: String,
    /// MINIO_KMS_KES_ENDPOINT's entries, byte for byte.
    pub endpoints: Vec<String>,
    pub auth: DraftAuth,
    pub ca: Option<PathBuf>,
    pub default_key: String,
    pub env_file: PathBuf,
    /// `[vault]`: the Vault behind KES (`init --vault`), so that a sealed
    /// Vault is named as the cause.
    pub vault: Option<DraftVault>,
}

/// `[vault]` of a drafted configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DraftVault {
    pub address: Vec<String>,
    pub ca: Option<PathBuf>,
}

impl Draft {
    /// The TOML text: the same draft gives the same bytes everywhere.
    pub(crate) fn text(&self) -> Result<String, InitError> {
        let mut t = format!(
            "# kesgate configuration, written by `kesgate init` ({}).\n# Reference: kesgate.toml(5)\n\n[kes]\n",
            self.origin
        );
        let endpoints: Vec<String> = self.endpoints.iter().map(|e| toml_string(e)).collect();
        t.push_str(&format!("endpoints = [{}]\n", endpoints.join(", ")));
        match &self.auth {
            DraftAuth::ApiKeyFile(p) => {
                t.push_str(&format!(
                    "api_key_file = {}\n",
                    toml_path(p, "the API key file")?
                ));
            }
            DraftAuth::CertFile { cert, key } => {
                t.push_str(&format!(
                    "cert_file = {}\n",
                    toml_path(cert, "MINIO_KMS_KES_CERT_FILE")?
                ));
                t.push_str(&format!(
                    "key_file = {}\n",
                    toml_path(key, "MINIO_KMS_KES_KEY_FILE")?
                ));
            }
        }
        if let Some(ca) = &self.ca {
            t.push_str(&format!(
                "ca = {}\n",
                toml_path(ca, "MINIO_KMS_KES_CAPATH")?
            ));
        }
        t.push_str(&format!(
            "default_key = {}\n",
            toml_string(&self.default_key)
        ));
        if self.env_file != Path::new(super::env_file::DEFAULT_PATH) {
            t.push_str(&format!(
                "\n[env_file]\npath = {}\n",
                toml_path(&self.env_file, "the env file")?
            ));
        }
        if let Some(v) = &self.vault {
            let address: Vec<String> = v.address.iter().map(|a| toml_string(a)).collect();
            t.push_str(&format!("\n[vault]\naddress = [{}]\n", address.join(", ")));
            if let Some(ca) = &v.ca {
                t.push_str(&format!("ca = {}\n", toml_path(ca, "--vault-ca")?));
            }
        }
        Ok(t)
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_path(p: &Path, what: &str) -> Result<String, InitError> {
    let s = p.to_str().ok_or_else(|| InitError::Invalid {
        what: what.to_owned(),
        why: format!(
            "{} is not UTF-8, which kesgate.toml cannot hold",
            p.display()
        ),
        fix: "rename it to a UTF-8 path",
    })?;
    Ok(toml_string(s))
}

/// What `--adopt` takes from MinIO's environment.
pub(crate) struct Adopted {
    pub draft: Draft,
    /// The API key MinIO uses (API-key auth): written to the key file.
    pub api_key: Option<Secret<String>>,
}

/// MinIO's environment, as `init --adopt` is given it: the effective
/// values and, per file, what each reader takes from it.
pub(crate) struct Seen<'a> {
    pub effective: &'a BTreeMap<String, String>,
    pub files: &'a [(PathBuf, Vec<BTreeMap<String, String>>)],
    /// MinIO's working directory: a relative path is MinIO's from there.
    pub working_directory: &'a Path,
    pub env_file: &'a Path,
}

/// Drafts the configuration that says what MinIO uses today.
/// `other_kms`: the other KMS families MinIO would see (render's rule).
pub(crate) fn adopt(
    seen: &Seen,
    other_kms: &[String],
    api_key_file: &Path,
) -> Result<Adopted, InitError> {
    let names: Vec<String> = seen
        .files
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let files = names.join(" and ");
    if !other_kms.is_empty() {
        return Err(InitError::OtherKms {
            files,
            found: other_kms.join(", "),
        });
    }
    refuse_conflicts(seen, &names)?;
    let get = |name: &str| seen.effective.get(name).filter(|v| !v.is_empty());
    let Some(endpoint) = get("MINIO_KMS_KES_ENDPOINT") else {
        return Err(InitError::NoKes { files });
    };
    if get("MINIO_KMS_KES_KEY_PASSWORD").is_some() {
        return Err(InitError::EncryptedKey { path: files });
    }
    let default_key = get("MINIO_KMS_KES_KEY_NAME").cloned().ok_or_else(|| InitError::Invalid {
        what: files.clone(),
        why: "MINIO_KMS_KES_ENDPOINT is set but MINIO_KMS_KES_KEY_NAME is not (MinIO refuses to start so)".into(),
        fix: "set MINIO_KMS_KES_KEY_NAME to MinIO's default key, then run `kesgate init --adopt` again",
    })?;
    let from_minio = |v: &String| seen.working_directory.join(v);
    let (auth, api_key) = credentials(seen, &files, api_key_file)?;
    Ok(Adopted {
        draft: Draft {
            origin: format!("adopted from {}", seen.env_file.display()),
            endpoints: vec![endpoint.clone()],
            auth,
            ca: get("MINIO_KMS_KES_CAPATH").map(from_minio),
            default_key,
            env_file: seen.env_file.to_owned(),
            vault: None,
        },
        api_key,
    })
}

/// The same KES variable set differently by two files (or by the two
/// readers of one file) is refused, naming both.
fn refuse_conflicts(seen: &Seen, names: &[String]) -> Result<(), InitError> {
    for name in crate::kes_types::MINIO_KES_VARS {
        let mut seen_in: Vec<(&str, &String)> = Vec::new();
        for ((_, readers), shown) in seen.files.iter().zip(names) {
            for values in readers {
                if let Some(v) = values.get(name) {
                    seen_in.push((shown, v));
                }
            }
        }
        if let Some(w) = seen_in.windows(2).find(|w| w[0].1 != w[1].1) {
            let (first, second) = if w[0].0 == w[1].0 {
                (
                    format!("{} (as systemd reads it)", w[0].0),
                    format!("{} (as MinIO reads it)", w[1].0),
                )
            } else {
                (w[0].0.to_owned(), w[1].0.to_owned())
            };
            return Err(InitError::Conflict {
                name: name.to_owned(),
                first,
                second,
            });
        }
    }
    Ok(())
}

/// MinIO's KES credentials, as MinIO accepts them: an API key (kept for
/// `api_key_file`) or a client certificate with its key (MinIO's paths,
/// from its working directory).
fn credentials(
    seen: &Seen,
    files: &str,
    api_key_file: &Path,
) -> Result<(DraftAuth, Option<Secret<String>>), InitError> {
    let get = |name: &str| seen.effective.get(name).filter(|v| !v.is_empty());
    let from_minio = |v: &String| seen.working_directory.join(v);
    match (
        get("MINIO_KMS_KES_API_KEY"),
        get("MINIO_KMS_KES_CERT_FILE"),
        get("MINIO_KMS_KES_KEY_FILE"),
    ) {
        (Some(key), None, None) => Ok((
            DraftAuth::ApiKeyFile(api_key_file.to_owned()),
            Some(Secret::new(key.clone())),
        )),
        (None, Some(cert), Some(key)) => Ok((
            DraftAuth::CertFile {
                cert: from_minio(cert),
                key: from_minio(key),
            },
            None,
        )),
        (None, None, None) => Err(InitError::Invalid {
            what: files.to_owned(),
            why: "MINIO_KMS_KES_ENDPOINT is set but neither MINIO_KMS_KES_API_KEY nor MINIO_KMS_KES_CERT_FILE/KEY_FILE (MinIO refuses to start so)".into(),
            fix: "set MinIO's KES credentials, then run `kesgate init --adopt` again",
        }),
        _ => Err(InitError::Invalid {
            what: files.to_owned(),
            why: "the KES credentials are incomplete or mixed (an API key with a client certificate, or a certificate without its key): MinIO refuses to start so".into(),
            fix: "keep either MINIO_KMS_KES_API_KEY or both MINIO_KMS_KES_CERT_FILE and MINIO_KMS_KES_KEY_FILE",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            origin: "adopted from /etc/default/minio".into(),
            endpoints: vec!["https://kes{1...3}.example.net:7373, https://kes4:7373".into()],
            auth: DraftAuth::ApiKeyFile("/etc/kesgate/kes-api-key".into()),
            ca: Some("/etc/kes/tls/ca \"quoted\".pem".into()),
            default_key: "minio-default".into(),
            env_file: "/etc/default/minio".into(),
            vault: None,
        }
    }

    #[test]
    fn the_text_is_toml_that_keeps_every_byte_and_names_no_host() {
        let t = draft().text().unwrap();
        let v: toml::Table = toml::from_str(&t).unwrap();
        assert_eq!(
            v["kes"]["endpoints"][0].as_str(),
            Some("https://kes{1...3}.example.net:7373, https://kes4:7373")
        );
        assert_eq!(
            v["kes"]["ca"].as_str(),
            Some("/etc/kes/tls/ca \"quoted\".pem")
        );
        assert!(
            !t.contains("[env_file]"),
            "the default env file is not written"
        );
        assert_eq!(t, draft().text().unwrap());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        assert!(host.trim().is_empty() || !t.contains(host.trim()));
    }
}
