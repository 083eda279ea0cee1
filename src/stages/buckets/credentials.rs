//! The S3 credentials for MinIO: systemd credentials, configured files, or
//! MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from MinIO's env file.

use std::path::{Path, PathBuf};

use crate::config::{MinioSettings, S3Credentials};
use crate::files::envfile;
use crate::secret::{PrivateError, Secret};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CredentialsError {
    #[error("cannot read {path}: {source}\n  fix: {fix}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
        fix: &'static str,
    },
    #[error(transparent)]
    Exposed(#[from] crate::secret::Exposure),
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
    let read_error = |source| CredentialsError::Read {
        path: path.to_owned(),
        source,
        fix,
    };
    let bytes = crate::secret::read_private(path).map_err(|e| match e {
        PrivateError::Read(problem) => read_error(problem.into_io()),
        PrivateError::Exposed(e) => CredentialsError::Exposed(e),
    })?;
    let text = String::from_utf8(bytes.expose().clone()).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "is not UTF-8 text",
        ))
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// (access key, secret key).
/// `working_directory`: MinIO's, where a relative MINIO_CONFIG_ENV_FILE is.
pub(crate) fn resolve(
    minio: &MinioSettings,
    env_file: &Path,
    working_directory: &Path,
) -> Result<(String, Secret<String>), CredentialsError> {
    let credential = |name| {
        crate::inherited::credential(name).map_err(|reason| CredentialsError::EnvFile {
            path: PathBuf::from(crate::inherited::CREDENTIALS_DIR),
            reason: format!(
                "{reason}\n  fix: {}",
                crate::inherited::FIX_OPAQUE_CREDENTIAL
            ),
        })
    };
    if let (Some(a), Some(s)) = (
        credential("minio-access-key")?,
        credential("minio-secret-key")?,
    ) {
        return Ok((read_secret(&a)?, Secret::new(read_secret(&s)?)));
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
            let unreadable = |path: &Path, e: envfile::LoadError, fix| match e {
                envfile::LoadError::Read(problem) => CredentialsError::Read {
                    path: path.to_owned(),
                    source: problem.into_io(),
                    fix,
                },
                envfile::LoadError::Parse(e) => CredentialsError::EnvFile {
                    path: path.to_owned(),
                    reason: e.to_string(),
                },
            };
            let fix =
                "run `kesgate render` first, or set [minio] access_key_file and secret_key_file";
            let mut env = envfile::load(env_file, envfile::Dialect::Systemd)
                .map_err(|e| unreadable(env_file, e, fix))?
                .ok_or_else(|| CredentialsError::Read {
                    path: env_file.to_owned(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "does not exist"),
                    fix,
                })?;
            // MinIO reads MINIO_CONFIG_ENV_FILE itself, over systemd's values
            // (upstream's layout keeps the root credentials there); it
            // ignores a missing one too.
            if let Some(path) = envfile::config_env_file(&env, working_directory) {
                let fix = "it is MINIO_CONFIG_ENV_FILE: kesgate needs to read it (as root, or with CAP_DAC_READ_SEARCH), or set [minio] access_key_file and secret_key_file";
                if let Some(values) = envfile::load(&path, envfile::Dialect::Minio)
                    .map_err(|e| unreadable(&path, e, fix))?
                {
                    env.extend(values);
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
