//! `kesgate identity`: what KES will call us, and fresh API keys.

use std::io::Read;
use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::Outcome;
use crate::cli::{IdentityCommand, IdentityOf};
use crate::error::IdentityError;
use crate::kes_types::apikey::{ApiKey, Identity};
use crate::kes_types::keyname::KeyName;
use crate::kes_types::policy::policy_yaml;

pub(crate) fn run(cmd: &IdentityCommand) -> Result<Outcome, IdentityError> {
    match cmd {
        IdentityCommand::Of(of) => identity_of(of)?,
        IdentityCommand::New { policy } => identity_new(policy.as_deref())?,
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

fn identity_new(policy: Option<&str>) -> Result<(), IdentityError> {
    if let Some(name) = policy {
        // KES 2024+ checks policy names with the key-name rule.
        KeyName::parse(name).map_err(|m| IdentityError::Usage(format!("policy name: {m}")))?;
    }
    let key = ApiKey::generate().map_err(|reason| IdentityError::ApiKey {
        what: "a new key".into(),
        reason,
    })?;
    outln!(
        "# API key (a secret): store it with `install -m 600 /dev/stdin /etc/kesgate/kes-api-key`"
    );
    outln!("{}", key.to_text().expose());
    if let Some(name) = policy {
        outln!("# add to KES's server configuration:");
        out!("{}", policy_yaml(name, key.identity().as_str()));
    }
    outln!("# identity");
    outln!("{}", key.identity());
    Ok(())
}
