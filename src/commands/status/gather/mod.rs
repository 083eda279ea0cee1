//! Looks at each link of the chain; never changes anything.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

use super::{BucketStatus, EndpointStatus, EnvStatus, KeyStatus, Report};
use crate::config::{ConfigError, DEFAULT_KES_UNIT, DEFAULT_MINIO_UNIT, Endpoint, Settings};
use crate::host::systemd::bus::{self, UnitState};
use crate::net::tls::{Expiry, SeenCert};
use crate::peers::kes::client::KesClient;
use crate::peers::kes::generation;
use crate::peers::vault::VaultState;
use crate::stages::buckets;
use crate::stages::keys;
use crate::stages::render;
use crate::stages::wait::{self, probe::Api};
use crate::text::headline;

mod kes;
mod minio;
mod units;

pub(crate) async fn gather(config: &Path) -> Report {
    let mut r = look(config, &Settings::load(config)).await;
    // Since when: what the watch remembers (its own rounds need it not).
    r.since = tokio::task::spawn_blocking(super::since::read)
        .await
        .unwrap_or_default();
    r
}

/// The report for a configuration already loaded (`watch` keeps the
/// settings for itself: parsed once).
pub(crate) async fn look(config: &Path, loaded: &Result<Settings, ConfigError>) -> Report {
    let mut r = Report::empty(&config.display().to_string());
    let settings = match loaded {
        Ok(s) => Some(s),
        Err(ConfigError::Read {
            problem: crate::files::regular::ReadError::Io(source),
            ..
        }) if source.kind() == std::io::ErrorKind::PermissionDenied => {
            r.not_seen.push(format!(
                "the configuration and what it names ({source}; run as root)"
            ));
            None
        }
        Err(e) => {
            r.problems.push(format!("configuration: {}", headline(&e)));
            None
        }
    };
    let kes_unit = match settings {
        Some(s) => s.wait.kes_unit.clone(),
        None => Some(DEFAULT_KES_UNIT.to_owned()),
    };
    let minio = settings.map_or_else(|| DEFAULT_MINIO_UNIT.to_owned(), |s| s.minio.unit.clone());
    units::units(&mut r, kes_unit.as_deref(), &minio).await;
    if let Some(settings) = settings {
        r.checked = true;
        r.warn_before_days = settings.watch.warn_before.as_secs() / 86_400;
        r.identity = Some(settings.kes.identity().to_string());
        // minio.service, read once for every link below.
        let unit = crate::host::minio_unit::unit(settings).await;
        kes::kes(&mut r, settings, &unit).await;
        vault(&mut r, settings).await;
        not_ready(&mut r, settings);
        minio::environment(&mut r, settings, &unit);
        minio::buckets(&mut r, settings, &unit).await;
    }
    r.ok = r.problems.is_empty() && r.not_seen.is_empty();
    r
}

/// The endpoints that are not ready, when that keeps MinIO from starting
/// (none ready, or `[wait] require = "all"`): one problem per state they
/// share, with its fix — with `[vault]`, the cause KES and its Vault give
/// together, as `wait` gives it, in place of both.
fn not_ready(r: &mut Report, settings: &Settings) {
    let down: Vec<&EndpointStatus> = r.kes.iter().filter(|e| !e.ready).collect();
    let required_all = settings.wait.require == crate::config::Require::All;
    if down.is_empty() || (down.len() < r.kes.len() && !required_all) {
        return;
    }
    let kinds: Vec<wait::probe::Kind> = down.iter().filter_map(|e| kind_of(e)).collect();
    if let Some(v) = r.vault.as_ref().filter(|v| v.state() != VaultState::Ok)
        && kinds.len() == down.len()
        && down.len() == r.kes.len()
    {
        let unit = settings.wait.kes_unit.as_deref().unwrap_or_default();
        let d = wait::combine(&kinds, v, unit, None);
        let alone = v.describe();
        r.problems.retain(|p| *p != alone);
        r.problems.push(format!("{}; fix: {}", d.text, d.fix));
        return;
    }
    // Grouped by what they say (the endpoint's own name taken out).
    let mut groups: Vec<(String, Vec<&EndpointStatus>)> = Vec::new();
    for e in down {
        let said = e.state.replace(&e.endpoint, "KES");
        match groups.iter_mut().find(|(s, _)| *s == said) {
            Some((_, members)) => members.push(e),
            None => groups.push((said, vec![e])),
        }
    }
    let all = r.kes.len();
    let mut problems = Vec::new();
    for (said, members) in groups {
        let first = members[0];
        let mut text = if members.len() == 1 {
            first.sentence()
        } else if members.len() == all {
            format!("KES, all {all} endpoints: {said}")
        } else {
            let names: Vec<&str> = members.iter().map(|e| e.endpoint.as_str()).collect();
            format!("KES {}: {said}", names.join(", "))
        };
        if !text.contains("fix: ")
            && let Some(kind) = kind_of(first)
        {
            text = format!("{text}; fix: {}", kind.fix());
        }
        problems.push(text);
    }
    r.problems.extend(problems);
}

/// The not-ready kind of an endpoint's state; no complete answer in time
/// is KES not reachable, as far as a fix goes.
fn kind_of(e: &EndpointStatus) -> Option<wait::probe::Kind> {
    match e.condition.as_str() {
        "no_answer" => Some(wait::probe::Kind::Unreachable),
        c => wait::probe::Kind::from_name(c),
    }
}

/// `[vault]`: every node's seal status and health; the report shows the
/// active node (else the first). Not ok is a problem: KES cannot serve.
async fn vault(r: &mut Report, settings: &Settings) {
    let Some(v) = &settings.vault else {
        return;
    };
    let mut watch = match crate::peers::vault::VaultWatch::connect(v).await {
        Ok(w) => w,
        Err(e) => {
            r.broken_link("vault", format!("Vault client: {}", headline(&e)));
            return;
        }
    };
    let nodes = watch.full().await;
    let shown = nodes
        .iter()
        .find(|n| n.state() == crate::peers::vault::VaultState::Ok)
        .or(nodes.first())
        .cloned();
    if let Some(v) = &shown
        && v.state() != crate::peers::vault::VaultState::Ok
    {
        r.problems.push(v.describe());
    }
    if let Some(v) = &shown {
        let certs = watch.certificates(&v.address);
        let who = format!("Vault {}", v.address);
        expiry(r, settings, &who, &certs, &mut Default::default());
        r.vault_certificates = certs;
    }
    r.vault = shown;
}

/// The earliest expiry of `who`'s certificates (Unix seconds, days left);
/// each certificate expired (broken) or within `[watch] warn_before` (a
/// warning) said once.
fn expiry(
    r: &mut Report,
    settings: &Settings,
    who: &str,
    certs: &[SeenCert],
    told: &mut std::collections::BTreeSet<SeenCert>,
) -> Option<(i64, i64)> {
    let now = crate::text::unix_now();
    let earliest = certs.iter().map(|c| c.not_after).min()?;
    for c in certs {
        let state = c.expiry(now, settings.watch.warn_before);
        if state == Expiry::Fine || !told.insert(c.clone()) {
            continue;
        }
        let date = crate::text::unix_time(c.not_after);
        let what = format!(
            "{who}: the {} certificate \"{}\"",
            c.role,
            crate::text::cut(&c.subject)
        );
        match state {
            Expiry::Expired => r.problems.push(format!(
                "{what} expired at {date}; fix: renew it (MinIO's KMS calls fail with it)"
            )),
            Expiry::Soon { days } => r.warnings.push(format!(
                "{what} expires in {days} days ({date}); fix: renew it before then ([watch] warn_before is {})",
                humantime::format_duration(settings.watch.warn_before)
            )),
            Expiry::Fine => {}
        }
    }
    Some((earliest, (earliest - now).div_euclid(86_400)))
}
