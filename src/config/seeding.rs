//! `[minio]`, `[[keys]]` and `[[buckets]]`: what the seeding stages need.

use std::path::PathBuf;

use reqwest::Url;

use super::raw::{RawBucket, RawKey, RawMinio};
use super::{ConfigError, Source};
use crate::kes_types::keyname::KeyName;

pub(super) const DEFAULT_MINIO_ENDPOINT: &str = "http://127.0.0.1:9000";
pub(crate) const DEFAULT_MINIO_UNIT: &str = "minio.service";

#[derive(Debug, Clone)]
pub(crate) struct MinioSettings {
    pub endpoint: Url,
    pub region: String,
    /// CA for an https endpoint; `None` = the OS trust store.
    pub ca: Option<PathBuf>,
    pub credentials: S3Credentials,
    /// MinIO's unit: whose `User=` decides which CA files MinIO can read.
    pub unit: String,
    /// `[minio] user`: overrides the unit's `User=` (MinIO not run by systemd).
    pub user: Option<String>,
}

/// Where the S3 credentials come from; read when the buckets stage runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum S3Credentials {
    /// MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from the env file (or systemd
    /// credentials `minio-access-key` / `minio-secret-key` when present).
    EnvFile,
    Files {
        access_key: PathBuf,
        secret_key: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketSettings {
    pub name: String,
    pub key: KeyName,
    pub create: bool,
    pub replace: bool,
}

pub(super) fn minio(
    ctx: &Source,
    raw: Option<toml::Spanned<RawMinio>>,
) -> Result<MinioSettings, ConfigError> {
    let Some(raw) = raw.map(toml::Spanned::into_inner) else {
        return Ok(MinioSettings {
            endpoint: Url::parse(DEFAULT_MINIO_ENDPOINT).expect("valid"),
            region: "us-east-1".into(),
            ca: None,
            credentials: S3Credentials::EnvFile,
            unit: DEFAULT_MINIO_UNIT.to_owned(),
            user: None,
        });
    };
    let endpoint = match raw.endpoint {
        None => Url::parse(DEFAULT_MINIO_ENDPOINT).expect("valid"),
        Some(e) => Url::parse(e.get_ref())
            .ok()
            .filter(|u| {
                matches!(u.scheme(), "http" | "https") && u.path() == "/" && u.query().is_none()
            })
            .ok_or_else(|| {
                ctx.invalid(
                    e.span(),
                    &format!("`{}` is not a MinIO endpoint", e.get_ref()),
                    "write it like \"http://127.0.0.1:9000\" (no path)",
                )
            })?,
    };
    let credentials = match (raw.access_key_file, raw.secret_key_file) {
        (None, None) => S3Credentials::EnvFile,
        (Some(a), Some(s)) => S3Credentials::Files {
            access_key: ctx.resolve(a.get_ref()),
            secret_key: ctx.resolve(s.get_ref()),
        },
        (Some(f), None) | (None, Some(f)) => {
            return Err(ctx.invalid(
                f.span(),
                "access_key_file and secret_key_file go together",
                "set both, or neither to use MINIO_ROOT_USER/MINIO_ROOT_PASSWORD from the env file",
            ));
        }
    };
    Ok(MinioSettings {
        endpoint,
        region: raw
            .region
            .map_or_else(|| "us-east-1".to_owned(), toml::Spanned::into_inner),
        ca: raw.ca.map(|c| ctx.resolve(c.get_ref())),
        credentials,
        unit: match raw.unit {
            None => DEFAULT_MINIO_UNIT.to_owned(),
            Some(u) => super::unit_name(ctx, &u, "name MinIO's unit, e.g. \"minio.service\"")?,
        },
        user: match raw.user {
            None => None,
            Some(u) => {
                if nix::unistd::User::from_name(u.get_ref())
                    .ok()
                    .flatten()
                    .is_none()
                {
                    return Err(ctx.invalid(
                        u.span(),
                        &format!("no user `{}` on this host", u.get_ref()),
                        "name the user MinIO runs as, or remove the key to use minio.service's User=",
                    ));
                }
                Some(u.into_inner())
            }
        },
    })
}

fn key_name(ctx: &Source, name: &toml::Spanned<String>) -> Result<KeyName, ConfigError> {
    KeyName::parse(name.get_ref()).map_err(|m| {
        ctx.invalid(
            name.span(),
            &m,
            "KES key names use A-Z, a-z, 0-9, `-` and `_`",
        )
    })
}

pub(super) fn keys(
    ctx: &Source,
    default: &KeyName,
    raw: Vec<RawKey>,
) -> Result<Vec<KeyName>, ConfigError> {
    let mut keys = vec![default.clone()];
    for k in raw {
        let name = key_name(ctx, &k.name)?;
        if !keys.contains(&name) {
            keys.push(name);
        }
    }
    Ok(keys)
}

/// S3 bucket naming rules (3–63 of a-z 0-9 . -, letter or digit at both ends).
fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

pub(super) fn buckets(
    ctx: &Source,
    default: &KeyName,
    raw: Vec<RawBucket>,
) -> Result<Vec<BucketSettings>, ConfigError> {
    let mut out: Vec<BucketSettings> = Vec::new();
    for b in raw {
        if !valid_bucket(b.name.get_ref()) {
            return Err(ctx.invalid(
                b.name.span(),
                &format!("`{}` is not a valid bucket name", b.name.get_ref()),
                "use 3-63 lowercase letters, digits, `.` and `-`",
            ));
        }
        if out.iter().any(|o| &o.name == b.name.get_ref()) {
            return Err(ctx.invalid(
                b.name.span(),
                &format!("bucket `{}` is listed twice", b.name.get_ref()),
                "keep one [[buckets]] entry per bucket",
            ));
        }
        let key = match &b.key {
            Some(k) => key_name(ctx, k)?,
            None => default.clone(),
        };
        out.push(BucketSettings {
            name: b.name.into_inner(),
            key,
            create: b.create,
            replace: b.replace,
        });
    }
    Ok(out)
}
