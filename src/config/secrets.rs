//! Where the KES credentials come from, and the file-mode rule for secrets.

use std::path::Path;

use super::raw::RawKes;

use super::{API_KEY_CREDENTIAL, Auth, ClientIdentity, ConfigError, Source};
use crate::files::regular;
use crate::kes_types::apikey::ApiKey;
use crate::secret::{PrivateError, Secret};

/// Picks the one authentication method: a systemd credential named
/// `kes-api-key` (the unit's deliberate choice) wins over the file's API
/// key; an API key and a client certificate are mutually exclusive, as in MinIO.
pub(super) fn auth(ctx: &Source, raw: &RawKes) -> Result<Auth, ConfigError> {
    let credential = crate::inherited::credential(API_KEY_CREDENTIAL)
        .map_err(|reason| ctx.invalid(0..0, &reason, crate::inherited::FIX_OPAQUE_CREDENTIAL))?;
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
        let source = format!("systemd credential {}", path.display());
        return api_key_from_file(&path, source, None);
    }
    if let Some(file) = &raw.api_key_file {
        let path = ctx.resolve(file.get_ref());
        return api_key_from_file(&path, path.display().to_string(), Some(path.clone()));
    }
    if let Some(inline) = &raw.api_key {
        require_private(ctx.path)?;
        let source = format!("api_key in {}", ctx.path.display());
        let key = ApiKey::parse(inline.get_ref()).map_err(|reason| ConfigError::ApiKey {
            source_name: source.clone(),
            reason,
        })?;
        return Ok(Auth::ApiKey {
            key,
            source,
            file: None,
        });
    }
    match (&raw.cert_file, &raw.key_file) {
        (Some(cert), Some(key)) => {
            let key = ctx.resolve(key.get_ref());
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

/// The one reader of private secrets (API key file, client key): a
/// regular file, capped, that no other user can read or change.
fn read_secret(path: &Path, fix: &'static str) -> Result<Secret<Vec<u8>>, ConfigError> {
    crate::secret::read_private(path).map_err(|e| match e {
        PrivateError::Read(problem) => ConfigError::Read {
            path: path.to_owned(),
            problem,
            fix,
        },
        PrivateError::Exposed(e) => ConfigError::Exposed(e),
    })
}

/// `[watch] fingerprint_key_file`: a secret like the others.
pub(super) fn read_fingerprint_key(path: &Path) -> Result<Secret<Vec<u8>>, ConfigError> {
    read_secret(
        path,
        "put the same random key on every node of the cluster (mode 600), e.g. `head -c 32 /dev/urandom > FILE`, or remove fingerprint_key_file",
    )
}

/// The client certificate chain and key MinIO will present, derived from
/// the API key or read from `cert_file`/`key_file` — once, at load, with
/// the configuration line to fix.
pub(super) fn client(
    ctx: &Source,
    raw: &RawKes,
    auth: &Auth,
) -> Result<ClientIdentity, ConfigError> {
    match auth {
        Auth::ApiKey { key, .. } => ClientIdentity::of_api_key(key)
            .map_err(|e| ctx.invalid(0..0, &e, "create a new key with `kesgate identity new`")),
        Auth::CertFile { cert, key } => {
            let cert_span = raw.cert_file.as_ref().map(|s| s.span()).unwrap_or(0..0);
            let key_span = raw.key_file.as_ref().map(|s| s.span()).unwrap_or(0..0);
            let pem_fix = "cert_file and key_file must be PEM files (-----BEGIN CERTIFICATE----- and an unencrypted -----BEGIN PRIVATE KEY-----)";
            let text =
                regular::read(cert, regular::MAX_CONFIG).map_err(|problem| ConfigError::Read {
                    path: cert.clone(),
                    problem,
                    fix: "create it, or fix cert_file in kesgate.toml",
                })?;
            let (chain, identity) = ClientIdentity::chain_of(&text).map_err(|e| {
                ctx.invalid(cert_span, &format!("{}: {e}", cert.display()), pem_fix)
            })?;
            let secret = crate::secret::read_client_key(key).map_err(|e| match e {
                PrivateError::Read(problem) => ConfigError::Read {
                    path: key.clone(),
                    problem,
                    fix: "create it (mode 600, owned by root or MinIO's user), or fix key_file in kesgate.toml",
                },
                PrivateError::Exposed(e) => ConfigError::Exposed(e),
            })?;
            let private = ClientIdentity::key_of(&secret)
                .map_err(|e| ctx.invalid(key_span, &format!("{}: {e}", key.display()), pem_fix))?;
            Ok(ClientIdentity::new(chain, private, identity))
        }
    }
}

fn api_key_from_file(
    path: &Path,
    source: String,
    file: Option<std::path::PathBuf>,
) -> Result<Auth, ConfigError> {
    let read_error = |problem| ConfigError::Read {
        path: path.to_owned(),
        problem,
        fix: "store the key printed by `kesgate identity new` there (mode 600), or fix api_key_file",
    };
    let bytes = read_secret(
        path,
        "store the key printed by `kesgate identity new` there (mode 600), or fix api_key_file",
    )?;
    let text = String::from_utf8(bytes.expose().clone()).map_err(|_| {
        read_error(regular::ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "is not UTF-8 text",
        )))
    })?;
    let key = ApiKey::parse(&text).map_err(|reason| ConfigError::ApiKey {
        source_name: source.clone(),
        reason,
    })?;
    Ok(Auth::ApiKey { key, source, file })
}

/// Refuses a secret that group or others can read, or that another user
/// owns, as ssh does.
pub(super) fn require_private(path: &Path) -> Result<(), ConfigError> {
    let meta = regular::regular_metadata(path).map_err(|problem| ConfigError::Read {
        path: path.to_owned(),
        problem,
        fix: "create it, or fix its path in kesgate.toml",
    })?;
    Ok(crate::secret::check_private(path, &meta)?)
}
