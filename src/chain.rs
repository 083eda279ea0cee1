//! The boot chain as the units run it. `gate` is one pass of "KES ready →
//! the default key works as MinIO will use it → /etc/default/minio
//! rendered"; kesgate.service runs it as `kesgate start` (then READY=1), and
//! minio.service runs it before every (re)start as `kesgate preflight`
//! (never READY=1: that is MinIO's to send).

use std::path::Path;
use std::time::Duration;

use crate::config::Settings;
use crate::error::{Error, headline};
use crate::kes::client::KesClient;
use crate::minio_service::RunsAs;
use crate::systemd::episode::Episode;
use crate::systemd::notify::Notifier;
use crate::{keys, logging, render, wait};

/// The shortest a failing preflight attempt may take. minio.service's
/// `Restart=always` re-runs a failed ExecStartPre after 100 ms, and systemd
/// stops a unit that starts 5 times within 10 s (the default start limit);
/// attempts of at least 3 s never reach it, so an outage of any length
/// leaves MinIO retrying, never "start request repeated too quickly".
pub const PREFLIGHT_MIN_ATTEMPT: Duration = Duration::from_secs(3);

/// Loads nothing: waits for KES with settings already loaded.
pub async fn wait_for_kes(
    settings: &Settings,
    runs_as: Option<&RunsAs>,
    notifier: &Notifier,
    episode: &Episode,
) -> Result<(KesClient, wait::Ready), Error> {
    let (pool, source) = crate::minio_service::kes_trust(settings, runs_as).await?;
    let skipped = pool.skipped.clone();
    let client = KesClient::new(&settings.kes, pool)?;
    let mut vault = vault_watch(settings).await?;
    log_start(settings, episode, &source);
    let ready = wait::wait(
        &settings.kes,
        &settings.wait,
        &client,
        vault.as_mut(),
        notifier,
        episode,
    )
    .await
    .map_err(|e| match e {
        wait::WaitError::Untrusted {
            endpoint, detail, ..
        } => {
            let mut trust = format!("\n  trusted: {source}, as MinIO does");
            for p in &skipped {
                trust.push_str(&format!(
                    "\n  skipped: {} (MinIO's user cannot read it)",
                    p.display()
                ));
            }
            wait::WaitError::Untrusted {
                endpoint,
                detail,
                trust,
            }
        }
        other => other,
    })?;
    Ok((client, ready))
}

/// The Vault watch for `[vault]`: its CA added to the system roots, read
/// as kesgate itself (KES, not MinIO, talks to Vault).
pub async fn vault_watch(settings: &Settings) -> Result<Option<crate::vault::VaultWatch>, Error> {
    let Some(v) = &settings.vault else {
        return Ok(None);
    };
    let source =
        v.ca.clone()
            .map_or(crate::tls::CaSource::None, crate::tls::CaSource::Configured);
    let pool = tokio::task::spawn_blocking(move || {
        crate::tls::pool::load(crate::tls::Section::Vault, &source, &Default::default())
    })
    .await
    .map_err(|e| crate::tls::TlsSetupError::Setup {
        section: crate::tls::Section::Vault,
        reason: e.to_string(),
    })??;
    Ok(Some(crate::vault::VaultWatch::new(
        v,
        std::sync::Arc::new(pool),
    )?))
}

/// A key store that did not serve for the whole retry window: what the
/// Vault behind KES says (`[vault]`) decides the advice, so that an
/// unsealed, active Vault never gets "check its policy" first.
pub async fn with_vault_word(settings: &Settings, mut e: keys::KeyError) -> keys::KeyError {
    let keys::KeyError::Unavailable { fix, .. } = &mut e else {
        return e;
    };
    let Ok(Some(mut vault)) = vault_watch(settings).await else {
        return e;
    };
    let seen = vault.poll().await;
    *fix = keys::fix_unavailable(Some(&seen));
    e
}

/// Who runs the gate: kesgate.service (`start`, sandboxed) or
/// minio.service's preflight (as root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Service,
    Preflight,
}

/// KES ready, the default key round trip as MinIO does it, env file
/// rendered. Returns the summary for the final STATUS=.
pub async fn gate(
    settings: &Settings,
    notifier: &Notifier,
    episode: &Episode,
    caller: Caller,
) -> Result<String, Error> {
    // minio.service, read once: the trust pool, where MinIO reads its
    // environment, and a new config.env's owner all come from it.
    let unit = crate::minio_service::unit(settings).await;
    // A render that began and did not finish is completed before anything
    // else, KES up or not. When it cannot be (this sandbox may not write a
    // file), every state between its writes is a whole configuration, and
    // the render below says what to do.
    if let Err(e) =
        render::finish_unfinished(&settings.kes, &settings.env_file, &unit, &settings.path).await
    {
        tracing::warn!(
            "cannot complete the unfinished render yet: {}",
            headline(&e)
        );
    }
    let (client, ready) = wait_for_kes(settings, unit.runs_as.as_ref(), notifier, episode).await?;
    let (key, endpoint) = (&settings.kes.default_key, &ready.endpoint);
    // MinIO's order: generate with the key, create it only on a 404.
    notifier.status(&format!(
        "KES ready; checking generate/decrypt with key {key} as MinIO will"
    ));
    let trip = async {
        match keys::round_trip(&client, &settings.kes, endpoint, key).await {
            Err(keys::KeyError::NotFound { .. }) => {
                keys::ensure(&client, &settings.kes, endpoint, key).await?;
                keys::round_trip(&client, &settings.kes, endpoint, key).await
            }
            other => other,
        }
    }
    .await;
    let trip = match trip {
        Ok(t) => t,
        Err(e) => return Err(with_vault_word(settings, e).await.into()),
    };
    let warning = trip
        .describe_denied
        .as_deref()
        .map(|route| warn_describe_denied(settings, endpoint, route, episode));
    notifier.status(&format!("rendering {}", settings.env_file.path.display()));
    let options = render::Options {
        action: render::Action::Write,
        diff: false,
        config: &settings.path,
    };
    let rendered = render::render(&settings.kes, &settings.env_file, &unit, options).await;
    let report = match rendered {
        // kesgate.service's sandbox cannot read or replace a
        // MINIO_CONFIG_ENV_FILE owned by minio-user; the preflight, as
        // root, renders it before every MinIO start.
        Err(
            render::RenderError::Read { path, source }
            | render::RenderError::Write { path, source, .. },
        ) if caller == Caller::Service
            && path != settings.env_file.path
            && source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            // READY=1 only when MinIO cannot start without the preflight:
            // else MinIO would start on what the file says now.
            if unit.preflight != Some(true) {
                return Err(render::RenderError::NoPreflight {
                    path,
                    source,
                    unit: settings.minio.unit.clone(),
                }
                .into());
            }
            tracing::info!(
                "{}: not accessible from kesgate.service's sandbox ({source}); minio.service's preflight renders it (as root) before MinIO starts",
                path.display()
            );
            return Ok(format!(
                "KES ready ({}); key {key} present and works; {} is rendered by minio.service's preflight",
                ready.endpoint,
                path.display()
            ));
        }
        other => other?,
    };
    report_render(&report, false);
    let written = report.files.iter().any(|f| f.written);
    let where_ = report
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ");
    Ok(format!(
        "KES ready ({}); key {key} present and works; {where_} {}{}{}",
        ready.endpoint,
        if written { "updated" } else { "up to date" },
        warning
            .map(|w| format!("; warning: {w}"))
            .unwrap_or_default(),
        ready
            .unproven
            .as_ref()
            .map(|u| format!("; warning: {u}"))
            .unwrap_or_default(),
    ))
}

/// MinIO starts without describe, but its keep-alive (every 10 s) will log
/// errors: told once per episode, and returned for STATUS=.
fn warn_describe_denied(
    settings: &Settings,
    endpoint: &crate::config::Endpoint,
    route: &str,
    episode: &Episode,
) -> String {
    let key = &settings.kes.default_key;
    let short = format!("KES denies MinIO's identity {route} (MinIO's keep-alive)");
    if episode.changed("describe", "denied") {
        tracing::warn!(
            message_id = logging::ids::DESCRIBE_DENIED,
            kesgate_endpoint = %endpoint,
            kesgate_key = %key,
            kesgate_route = route,
            "{short}: MinIO starts, but logs an error every 10 s\n  fix: add `- /v1/key/describe/*` to the allow list of MinIO's identity {} in KES's policy and restart KES",
            settings.kes.identity().map_or_else(|| "?".to_owned(), |i| i.to_string()),
        );
    }
    short
}

/// minio.service's ExecStartPre. Without a configuration kesgate is not in
/// charge yet and MinIO starts as it did before the package was installed.
pub async fn preflight(config: &Path, notifier: &Notifier, episode: &Episode) -> Result<u8, Error> {
    if let Err(e) = std::fs::symlink_metadata(config)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        tracing::info!(
            "{} does not exist: kesgate is not configured; MinIO starts without the KES check",
            config.display()
        );
        notifier.status(&format!("not configured ({} missing)", config.display()));
        return Ok(0);
    }
    let mut settings = Settings::load(config)?;
    settings.wait.timeout = attempt_bound(settings.wait.timeout);
    let summary = gate(&settings, notifier, episode, Caller::Preflight).await?;
    notifier.status(&summary);
    Ok(0)
}

/// How long one preflight attempt may wait: `[wait] timeout`, but never
/// less than [`PREFLIGHT_MIN_ATTEMPT`]; `None` (timeout "0") waits forever.
fn attempt_bound(timeout: Option<Duration>) -> Option<Duration> {
    timeout.map(|t| t.max(PREFLIGHT_MIN_ATTEMPT))
}

fn log_start(settings: &Settings, episode: &Episode, trust: &crate::tls::CaSource) {
    let line = format!(
        "waiting for KES ({} endpoint(s), require {}) as identity {} ({}), trusting what MinIO trusts: {trust}; configuration {}",
        settings.kes.endpoints.len(),
        settings.wait.require,
        settings
            .kes
            .identity()
            .map_or_else(|| "unknown".into(), |i| i.to_string()),
        settings.kes.auth.describe(),
        settings.path.display(),
    );
    // A retrying unit said this when the trouble began.
    if episode.ongoing() {
        tracing::debug!("{line}");
    } else {
        tracing::info!("{line}");
    }
}

pub fn report_render(rendered: &render::Rendered, dry_run: bool) {
    if let render::Layout::Split(p) = &rendered.layout {
        tracing::info!(
            "{} sets MINIO_CONFIG_ENV_FILE={}: the KES variables go there (MinIO reads it after systemd's file and its values win)",
            rendered.files[0].path.display(),
            p.display()
        );
    }
    for report in &rendered.files {
        report_file(report, dry_run);
    }
}

fn report_file(report: &render::Report, dry_run: bool) {
    let path = report.path.display();
    if let Some(diff) = &report.diff {
        out!("{diff}");
    }
    if let Some((old, new)) = report.tightened {
        let verb = if dry_run {
            "would tighten it"
        } else {
            "tightened"
        };
        tracing::warn!(kesgate_env_file = %path, "{path} holds the KES API key but was mode {old:04o}: {verb} to {new:04o}");
    }
    for (name, why) in &report.removed {
        tracing::info!(kesgate_env_file = %path, "{path}: {} {name}: {why}", if dry_run { "would remove" } else { "removed" });
    }
    let names = report.changed.join(" ");
    if dry_run {
        if report.changed.is_empty() && report.removed.is_empty() {
            tracing::info!("{path}: up to date; nothing would change");
        } else {
            tracing::info!(
                "{path}: would set {}",
                if names.is_empty() { "nothing" } else { &names }
            );
        }
    } else if report.written {
        tracing::info!(message_id = logging::ids::ENV_CHANGED, kesgate_env_file = %path, kesgate_changed = %names, "{path} updated: {}", if names.is_empty() { "duplicates or stale lines removed".to_owned() } else { format!("set {names}") });
    } else {
        tracing::info!(message_id = logging::ids::ENV_UNCHANGED, kesgate_env_file = %path, "{path} already matches the configuration; not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preflight_attempt_outlasts_the_start_limit_window() {
        // 5 starts per 10 s: attempts of ≥ 3 s (+100 ms RestartSec) never
        // put 6 starts into one window.
        assert!(5 * (PREFLIGHT_MIN_ATTEMPT + Duration::from_millis(100)) > Duration::from_secs(10));
        assert_eq!(
            attempt_bound(Some(Duration::from_millis(200))),
            Some(PREFLIGHT_MIN_ATTEMPT)
        );
        assert_eq!(
            attempt_bound(Some(Duration::from_secs(900))),
            Some(Duration::from_secs(900))
        );
        assert_eq!(attempt_bound(None), None);
    }
}
