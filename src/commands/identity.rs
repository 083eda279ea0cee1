//! `kesgate identity`: what KES will call us, fresh API keys, and the
//! switch of a host to a new one (the rotation, node by node).

use std::io::Read;
use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::Outcome;
use crate::chain::{self, Slice};
use crate::cli::{IdentityCommand, IdentityOf};
use crate::config::{Auth, Settings};
use crate::error::{Error, IdentityError};
use crate::files::atomic;
use crate::host::systemd::episode::Episode;
use crate::host::systemd::notify::Notifier;
use crate::kes_types::apikey::{ApiKey, Identity};
use crate::kes_types::keyname::KeyName;
use crate::kes_types::policy::policy_yaml;
use crate::stages::render;

pub(crate) async fn run(
    config: &Path,
    cmd: &IdentityCommand,
    notifier: &Notifier,
    episode: &Episode,
) -> Result<Outcome, Error> {
    match cmd {
        IdentityCommand::Of(of) => identity_of(of)?,
        IdentityCommand::New { policy, key_file } => {
            identity_new(policy.as_deref(), key_file.as_deref())?;
        }
        IdentityCommand::Switch { key_file } => {
            return switch(config, key_file, notifier, episode).await;
        }
    }
    Ok(Outcome::Done)
}

fn identity_of(of: &IdentityOf) -> Result<(), IdentityError> {
    let (what, text) = match (&of.input, &of.file) {
        (_, Some(file)) => (file.display().to_string(), read_file(file)?),
        (Some(arg), None) if arg != "-" && Path::new(arg).is_file() => {
            (arg.clone(), read_file(Path::new(arg))?)
        }
        (Some(arg), None) if arg != "-" => {
            tracing::warn!(
                "an API key on the command line is visible to other local users; prefer `kesgate identity of -`"
            );
            ("the API key argument".to_owned(), arg.clone())
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| IdentityError::Read {
                    what: "standard input".into(),
                    source,
                })?;
            ("standard input".to_owned(), text)
        }
    };
    let identity = if text.contains("-----BEGIN CERTIFICATE-----") {
        let der = CertificateDer::from_pem_slice(text.as_bytes()).map_err(|e| {
            IdentityError::Certificate {
                what: what.clone(),
                reason: e.to_string(),
            }
        })?;
        outln!("# identity of the certificate in {what}");
        Identity::of_certificate(&der)
            .map_err(|reason| IdentityError::Certificate { what, reason })?
    } else {
        let key = ApiKey::parse(&text).map_err(|reason| IdentityError::ApiKey {
            what: what.clone(),
            reason,
        })?;
        outln!("# identity of the API key from {what}");
        key.identity().clone()
    };
    outln!("{identity}");
    Ok(())
}

fn read_file(path: &Path) -> Result<String, IdentityError> {
    crate::files::regular::read_text(path, crate::files::regular::MAX_SECRET).map_err(|e| {
        IdentityError::Read {
            what: path.display().to_string(),
            source: e.into_io(),
        }
    })
}

fn identity_new(policy: Option<&str>, key_file: Option<&Path>) -> Result<(), IdentityError> {
    if let Some(name) = policy {
        // KES 2024+ checks policy names with the key-name rule.
        KeyName::parse(name).map_err(|m| IdentityError::Usage(format!("policy name: {m}")))?;
    }
    let key = ApiKey::generate().map_err(|reason| IdentityError::ApiKey {
        what: "a new key".into(),
        reason,
    })?;
    match key_file {
        Some(path) => {
            write_new_secret(path, key.to_text().expose())?;
            outln!("# API key written to {} (mode 0600)", path.display());
        }
        None => {
            outln!(
                "# API key (a secret): store it with `install -m 600 /dev/stdin /etc/kesgate/kes-api-key`"
            );
            outln!("{}", key.to_text().expose());
        }
    }
    if let Some(name) = policy {
        outln!("# add to KES's server configuration:");
        out!("{}", policy_yaml(name, key.identity().as_str()));
    }
    outln!("# identity");
    outln!("{}", key.identity());
    Ok(())
}

/// A new owner-only file (never an existing one): a key must not land
/// where another reads it.
fn write_new_secret(path: &Path, key: &str) -> Result<(), IdentityError> {
    atomic::create_private(path, format!("{key}\n").as_bytes()).map_err(|source| {
        IdentityError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// `kesgate identity switch --key-file FILE`: this host, from the API key
/// it uses to the one in FILE. Refused unless MinIO's env file matches the
/// configuration (so the render changes the key alone) and unless KES
/// serves MinIO's start-up calls with the new identity (the chain's wait
/// and round trip, then its render); then the key is stored in `[kes]
/// api_key_file` and the env file's backup, which held the old key, goes.
/// MinIO keeps its old environment until it is restarted — on every node
/// together, or its peers refuse it.
async fn switch(
    config: &Path,
    file: &Path,
    notifier: &Notifier,
    episode: &Episode,
) -> Result<Outcome, Error> {
    let mut settings = Settings::load(config)?;
    let (old, key_file) = match &settings.kes.auth {
        Auth::ApiKey {
            file: Some(path), ..
        } => (settings.kes.identity().clone(), path.clone()),
        _ => {
            return Err(IdentityError::Usage(format!(
                "`kesgate identity switch` changes the key in [kes] api_key_file, and {} names none (the key comes from {}); fix: set api_key_file, or replace the key where it is",
                config.display(),
                settings.kes.auth.describe()
            ))
            .into());
        }
    };
    let new = ApiKey::parse(&read_file(file)?).map_err(|reason| IdentityError::ApiKey {
        what: file.display().to_string(),
        reason,
    })?;
    if *new.identity() == old {
        outln!(
            "# {} already holds this key (identity {})",
            key_file.display(),
            new.identity()
        );
        return Ok(Outcome::Done);
    }
    let unit = crate::host::minio_unit::unit(&settings).await;
    let check = render::check(&settings.kes, &settings.env_file, &unit, &settings.path)?;
    if !check.exists || !check.drift.is_empty() || !check.minio_problems.is_empty() {
        return Err(IdentityError::Usage(format!(
            "{} does not match the configuration yet, so a switch would change more than the key; fix: see `kesgate render --diff`, run `kesgate render`, then switch",
            check.path.display()
        ))
        .into());
    }
    // The chain, as kesgate.service runs it, with the new identity: KES
    // ready for it, MinIO's start-up calls served, the env file rendered.
    settings
        .kes
        .use_api_key(
            new.clone(),
            file.display().to_string(),
            Some(key_file.clone()),
        )
        .map_err(|why| IdentityError::Usage(format!("{}: {why}", file.display())))?;
    chain::run(Slice::Start, &settings, notifier, episode).await?;
    // Kept: the key file replaced in one step (a temp file renamed over it).
    atomic::write_private(
        &key_file,
        format!("{}\n", new.to_text().expose()).as_bytes(),
    )
    .map_err(|source| IdentityError::Write {
        path: key_file.clone(),
        source,
    })?;
    let removed = render::remove_backups(&settings.kes, &settings.env_file, &unit, &settings.path)?;
    for path in removed {
        outln!("# removed {} (it held the old key)", path.display());
    }
    outln!(
        "# switched to identity {}: restart MinIO once every node is switched, on every node together (`systemctl restart minio`)",
        new.identity()
    );
    Ok(Outcome::Done)
}
