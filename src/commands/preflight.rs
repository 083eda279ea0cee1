//! `kesgate preflight` (minio.service's ExecStartPre): the gate before
//! every MinIO (re)start. Never READY=1: that is MinIO's to send. Without
//! a configuration kesgate is not in charge yet and MinIO starts as it did
//! before the package was installed.

use std::path::Path;

use super::Outcome;
use crate::chain::{self, Slice};
use crate::config::Settings;
use crate::error::Error;
use crate::host::systemd::episode::Episode;
use crate::host::systemd::notify::Notifier;
use crate::inherited::Unit;

pub(crate) async fn run(
    config: &Path,
    notifier: &Notifier,
    episode: &Episode,
) -> Result<Outcome, Error> {
    if let Err(e) = std::fs::symlink_metadata(config)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        tracing::info!(
            "{} does not exist: kesgate is not configured; MinIO starts without the KES check",
            config.display()
        );
        notifier.status(&format!("not configured ({} missing)", config.display()));
        return Ok(Outcome::Done);
    }
    let settings = Settings::load(config)?;
    // The drop-in is also in every minio@.service instance: only the one
    // `[minio] unit` names is kesgate's to gate and render for; another
    // starts as it did before kesgate (its env file is not kesgate's).
    if let Unit::Foreign(running) = crate::inherited::unit()
        && running.as_str() != settings.minio.unit
        && running.starts_with("minio")
    {
        tracing::info!(
            "{running} is not the MinIO kesgate is configured for ([minio] unit = {} in {}): it starts without kesgate's gate",
            settings.minio.unit,
            config.display()
        );
        notifier.status(&format!(
            "not kesgate's MinIO ([minio] unit = {})",
            settings.minio.unit
        ));
        return Ok(Outcome::Done);
    }
    let done = chain::run(Slice::Preflight, &settings, notifier, episode).await?;
    notifier.status(&done.summary);
    Ok(Outcome::Done)
}

/// `kesgate preflight --as-minio`: the drop-in's second line, as MinIO's
/// user inside MinIO's sandbox (crate::stages::minio_view). A failing
/// attempt lasts at least [`chain::PREFLIGHT_MIN_ATTEMPT`], so that
/// `Restart=always` never reaches the start limit while it fails.
///
/// kesgate not configured (no `config`: the first line said so and MinIO
/// starts as it did before kesgate): nothing is checked or said. Only a
/// configuration that does not exist counts as none; one MinIO's sandbox
/// will not let it look at is checked.
pub(crate) async fn as_minio(config: &Path, notifier: &Notifier) -> Result<Outcome, Error> {
    if let Err(e) = std::fs::symlink_metadata(config)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        tracing::debug!(
            "{} does not exist: kesgate is not configured, nothing to check as MinIO",
            config.display()
        );
        return Ok(Outcome::Done);
    }
    let started = tokio::time::Instant::now();
    let result = check_as_minio(notifier).await;
    if result.is_err() {
        tokio::time::sleep_until(started + chain::PREFLIGHT_MIN_ATTEMPT).await;
    }
    result
}

async fn check_as_minio(notifier: &Notifier) -> Result<Outcome, Error> {
    use crate::stages::{keys, minio_view};
    let me = nix::unistd::geteuid();
    let user = nix::unistd::User::from_uid(me)
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {me}"), |u| format!("{} (uid {me})", u.name));
    // vars_os, never vars (which panics on a value that is not UTF-8):
    // such a variable is no MINIO_KMS_* value kesgate could check.
    let process: minio_view::Env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let env = minio_view::minio_environment(process, &user)?;
    let Some(view) = minio_view::read(&env, &user)? else {
        // STATUS= stays the first line's (it said why, e.g. not kesgate's
        // MinIO).
        tracing::info!("MinIO's environment sets no MINIO_KMS_KES_*: MinIO starts without KES");
        return Ok(Outcome::Done);
    };
    for note in &view.notes {
        tracing::warn!("{note}");
    }
    let pool = crate::net::tls::pool::build(
        crate::net::tls::Section::Kes,
        view.source.clone(),
        crate::net::tls::access::Reader(None),
    )
    .await?;
    let client =
        crate::peers::kes::client::KesClient::via(&view.kes, pool, minio_view::proxy(&view))?;
    notifier.status(&format!("checking KES as MinIO will reach it ({user})"));
    let (endpoint, found) = match minio_view::start_up(&view, &client).await {
        Some(result) => result.map_err(Error::Key)?,
        None => {
            return Err(minio_view::ViewError::Invalid {
                problem: "MINIO_KMS_KES_ENDPOINT names no endpoint".into(),
                fix: "set at least one https://host:port".into(),
            }
            .into());
        }
    };
    let summary = match found {
        keys::StartUp::Served => format!(
            "MinIO's own view: KES {endpoint} serves key {} to MinIO's identity, checked as {user} inside MinIO's unit",
            view.kes.default_key
        ),
        keys::StartUp::Denied => format!(
            "MinIO's own view: KES {endpoint} is reached, and refuses MinIO's identity (MinIO starts, and cannot encrypt), checked as {user} inside MinIO's unit"
        ),
    };
    tracing::info!("{summary}");
    notifier.status(&summary);
    Ok(Outcome::Done)
}
