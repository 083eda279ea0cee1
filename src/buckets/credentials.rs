//! The S3 credentials for MinIO: systemd credentials, configured files, or
//! MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from MinIO's env file.

use std::path::{Path, PathBuf};

use crate::config::{MinioSettings, S3Credentials};
use crate::envfile;
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}\n  fix: {fix}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
        fix: &'static str,
    },
    #[error(
        "{path} holds a secret but is readable by group or others (mode {mode:04o})\n  fix: chmod 600 {path}"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "{path} has no {missing}\n  fix: set MINIO_ROOT_USER and MINIO_ROOT_PASSWORD there, or [minio] access_key_file and secret_key_file"
    )]
    Missing {
        path: PathBuf,
        missing: &'static str,
    },
    #[error("{path}: {reason}")]
    EnvFile { path: PathBuf, reason: String },
}

fn read_secret(path: &Path) -> Result<String, CredentialsError> {
    let fix = "create it, or change [minio] in /etc/kesgate/kesgate.toml";
    let meta = std::fs::metadata(path).map_err(|source| CredentialsError::Read {
        path: path.to_owned(),
        source,
        fix,
    })?;
    if let Some(mode) = crate::secret::exposed_mode(&meta) {
        return Err(CredentialsError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: path.to_owned(),
        source,
        fix,
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// (access key, secret key).
pub fn resolve(
    minio: &MinioSettings,
    env_file: &Path,
) -> Result<(String, Secret<String>), CredentialsError> {
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from) {
        let (a, s) = (dir.join("minio-access-key"), dir.join("minio-secret-key"));
        if a.exists() && s.exists() {
            return Ok((read_secret(&a)?, Secret::new(read_secret(&s)?)));
        }
    }
    match &minio.credentials {
        S3Credentials::Files {
            access_key,
            secret_key,
        } => Ok((
            read_secret(access_key)?,
            Secret::new(read_secret(secret_key)?),
        )),
        S3Credentials::EnvFile => {
            let bytes = std::fs::read(env_file).map_err(|source| CredentialsError::Read {
                path: env_file.to_owned(),
                source,
                fix: "run `kesgate render` first, or set [minio] access_key_file and secret_key_file",
            })?;
            let parsed =
                envfile::systemd::parse(&bytes).map_err(|e| CredentialsError::EnvFile {
                    path: env_file.to_owned(),
                    reason: e.to_string(),
                })?;
            let mut env = envfile::effective(&parsed);
            // MinIO reads MINIO_CONFIG_ENV_FILE itself, over systemd's values
            // (upstream's layout keeps the root credentials there).
            if let Some(minio_file) = env
                .get("MINIO_CONFIG_ENV_FILE")
                .filter(|p| !p.is_empty())
                .cloned()
            {
                let path = Path::new("/").join(&minio_file);
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let parsed = envfile::minio::parse(&bytes).map_err(|e| {
                            CredentialsError::EnvFile {
                                path: path.clone(),
                                reason: e.to_string(),
                            }
                        })?;
                        env.extend(envfile::effective(&parsed));
                    }
                    // MinIO ignores a missing one too.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(CredentialsError::Read {
                            path,
                            source,
                            fix: "it is MINIO_CONFIG_ENV_FILE: kesgate needs to read it (as root, or with CAP_DAC_READ_SEARCH), or set [minio] access_key_file and secret_key_file",
                        });
                    }
                }
            }
            // MINIO_ACCESS_KEY/MINIO_SECRET_KEY are MinIO's older names.
            let pick = |names: [&str; 2], missing| {
                names
                    .iter()
                    .find_map(|n| env.get(*n).filter(|v| !v.is_empty()).cloned())
                    .ok_or(CredentialsError::Missing {
                        path: env_file.to_owned(),
                        missing,
                    })
            };
            let user = pick(["MINIO_ROOT_USER", "MINIO_ACCESS_KEY"], "MINIO_ROOT_USER")?;
            let password = pick(
                ["MINIO_ROOT_PASSWORD", "MINIO_SECRET_KEY"],
                "MINIO_ROOT_PASSWORD",
            )?;
            Ok((user, Secret::new(password)))
        }
    }
}
