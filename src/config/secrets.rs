//! Where the KES credentials come from, and the file-mode rule for secrets.

use std::path::{Path, PathBuf};

use super::raw::RawKes;
use super::{API_KEY_CREDENTIAL, Auth, ConfigError, Source};
use crate::kes::apikey::ApiKey;
use crate::regular_file;

/// Picks the one authentication method: a systemd credential named
/// `kes-api-key` (the unit's deliberate choice) wins over the file's API
/// key; an API key and a client certificate are mutually exclusive, as in MinIO.
pub(super) fn auth(ctx: &Source, raw: &RawKes) -> Result<Auth, ConfigError> {
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|dir| PathBuf::from(dir).join(API_KEY_CREDENTIAL))
        // A dangling link is a credential that is wrong, not one that is absent.
        .filter(|p| p.symlink_metadata().is_ok());
    let has_cert = raw.cert_file.is_some() || raw.key_file.is_some();
    let api_key_spans = [
        raw.api_key.as_ref().map(|s| s.span()),
        raw.api_key_file.as_ref().map(|s| s.span()),
    ];
    if let [Some(_), Some(span)] = api_key_spans {
        return Err(ctx.invalid(
            span,
            "both api_key and api_key_file are set",
            "keep one of them",
        ));
    }
    if has_cert && (raw.api_key.is_some() || raw.api_key_file.is_some() || credential.is_some()) {
        let span = raw
            .cert_file
            .as_ref()
            .or(raw.key_file.as_ref())
            .map(|s| s.span())
            .unwrap_or(0..0);
        return Err(ctx.invalid(
            span,
            "an API key and cert_file/key_file are both configured; MinIO refuses to start with both",
            "keep either the API key or the certificate pair",
        ));
    }
    if let Some(path) = credential {
        return api_key_from_file(&path, format!("systemd credential {}", path.display()));
    }
    if let Some(file) = &raw.api_key_file {
        let path = ctx.resolve(file.get_ref());
        return api_key_from_file(&path, path.display().to_string());
    }
    if let Some(inline) = &raw.api_key {
        require_private(ctx.path)?;
        let source = format!("api_key in {}", ctx.path.display());
        let key = ApiKey::parse(inline.get_ref()).map_err(|reason| ConfigError::ApiKey {
            source_name: source.clone(),
            reason,
        })?;
        return Ok(Auth::ApiKey { key, source });
    }
    match (&raw.cert_file, &raw.key_file) {
        (Some(cert), Some(key)) => {
            let key = ctx.resolve(key.get_ref());
            require_private(&key)?;
            Ok(Auth::CertFile {
                cert: ctx.resolve(cert.get_ref()),
                key,
            })
        }
        (Some(s), None) | (None, Some(s)) => Err(ctx.invalid(
            s.span(),
            "cert_file and key_file must be set together",
            "add the missing one",
        )),
        (None, None) => Err(ctx.invalid(
            0..0,
            "[kes] has no credentials",
            "set api_key_file (see `kesgate identity new`), api_key, or cert_file + key_file",
        )),
    }
}

fn api_key_from_file(path: &Path, source: String) -> Result<Auth, ConfigError> {
    let read_error = |problem| ConfigError::Read {
        path: path.to_owned(),
        problem,
        fix: "store the key printed by `kesgate identity new` there (mode 600), or fix api_key_file",
    };
    let (bytes, meta) =
        regular_file::read_with_metadata(path, regular_file::MAX_SECRET).map_err(read_error)?;
    crate::secret::check_private(path, &meta)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        read_error(regular_file::ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "is not UTF-8 text",
        )))
    })?;
    let key = ApiKey::parse(&text).map_err(|reason| ConfigError::ApiKey {
        source_name: source.clone(),
        reason,
    })?;
    Ok(Auth::ApiKey { key, source })
}

/// Refuses a secret that group or others can read, or that another user
/// owns, as ssh does.
pub(super) fn require_private(path: &Path) -> Result<(), ConfigError> {
    let meta = regular_file::regular_metadata(path).map_err(|problem| ConfigError::Read {
        path: path.to_owned(),
        problem,
        fix: "create it, or fix its path in kesgate.toml",
    })?;
    Ok(crate::secret::check_private(path, &meta)?)
}
