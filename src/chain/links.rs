//! Each link of the chain as [`super::run`] calls it: what one stage
//! needs from the stages before it (the KES client and endpoint the wait
//! found), and what it leaves for the summary.

use crate::config::Settings;
use crate::error::Error;
use crate::logging;
use crate::peers::kes::client::KesClient;
use crate::peers::vault::VaultWatch;
use crate::stages::{buckets, keys, render, wait};

use super::{Done, Host, Slice};

/// What the links run so far have found.
#[derive(Default)]
pub(super) struct Run {
    kes: Option<(KesClient, wait::Ready)>,
    /// MinIO's trust for KES, with the chains it verified.
    pool: Option<std::sync::Arc<crate::net::tls::TrustPool>>,
    /// Not a failure, but said in the summary.
    warnings: Vec<String>,
    rendered: Option<render::Rendered>,
    keys: Option<(usize, usize)>,
    buckets: Option<buckets::Report>,
}

impl Run {
    /// The KES client and the endpoint the wait found ready. The chain
    /// runs `Wait` before every link that calls this (a test holds it).
    fn kes<'a>(&'a self, settings: &'a Settings) -> keys::Session<'a> {
        let (client, ready) = self
            .kes
            .as_ref()
            .expect("the chain runs Wait before the links that use KES");
        keys::Session {
            client,
            kes: &settings.kes,
            endpoint: &ready.endpoint,
            vault: settings.vault.as_ref(),
        }
    }

    /// The sentence STATUS= ends with.
    pub(super) fn done(self, settings: &Settings, slice: Slice) -> Done {
        let key = &settings.kes.default_key;
        let mut warnings = self.warnings;
        if let Some(u) = self.kes.as_ref().and_then(|(_, r)| r.unproven.as_ref()) {
            warnings.push(u.to_string());
        }
        let warnings: String = warnings.iter().map(|w| format!("; warning: {w}")).collect();
        let summary = match (slice, &self.kes) {
            (Slice::Buckets, _) => self
                .buckets
                .as_ref()
                .map_or_else(String::new, buckets::Report::summary),
            (Slice::Keys, _) => {
                let (created, existed) = self.keys.unwrap_or_default();
                format!(
                    "{} key(s) present on KES: {created} created, {existed} already existed",
                    settings.keys.len()
                )
            }
            (Slice::Start | Slice::Preflight, Some((_, ready))) => format!(
                "KES ready ({}); key {key} present and works; {}{warnings}",
                ready.endpoint,
                self.rendered
                    .as_ref()
                    .map_or_else(String::new, render::Rendered::summary),
            ),
            (_, Some((_, ready))) => ready.summary(),
            (_, None) => String::new(),
        };
        Done {
            summary,
            all_ok: self.buckets.as_ref().is_none_or(buckets::Report::all_ok),
        }
    }
}

/// A render that began and did not finish is completed before anything
/// else, KES up or not. When it cannot be (this sandbox may not write a
/// file), every state between its writes is a whole configuration, and
/// the render link says what to do.
pub(super) async fn recover(host: &Host<'_>) {
    let s = host.settings;
    if let Err(e) = render::finish_unfinished(&s.kes, &s.env_file, &host.unit, &s.path).await {
        tracing::warn!(
            "cannot complete the unfinished render yet: {}",
            crate::text::headline(&e)
        );
    }
}

pub(super) async fn wait(host: &Host<'_>, run: &mut Run) -> Result<(), Error> {
    let s = host.settings;
    let crate::peers::kes::connection::KesConnection {
        client,
        pool,
        source,
        trust,
    } = crate::stages::kes_connection(s, &host.unit).await?;
    run.pool = Some(pool);
    let mut vault = match &s.vault {
        Some(v) => Some(VaultWatch::connect(v).await?),
        None => None,
    };
    log_start(host, &source);
    let inputs = wait::Inputs {
        kes: &s.kes,
        wait: &s.wait,
        timeout: super::wait_bound(host.slice, s.wait.timeout),
        trust: &trust,
    };
    let ready = wait::wait(
        &inputs,
        &client,
        vault.as_mut(),
        host.notifier,
        host.episode,
    )
    .await?;
    tell_expiring(host, run.pool.as_deref(), &ready.endpoint);
    run.kes = Some((client, ready));
    Ok(())
}

/// A certificate on MinIO's way to the ready endpoint that expires within
/// `[watch] warn_before`: a warning, once per episode; never a block.
fn tell_expiring(
    host: &Host<'_>,
    pool: Option<&crate::net::tls::TrustPool>,
    endpoint: &crate::config::Endpoint,
) {
    let Some(pool) = pool else { return };
    let now = crate::text::unix_now();
    for c in pool.seen(&endpoint.server_name()) {
        if c.expiry(now, host.settings.watch.warn_before) == crate::net::tls::Expiry::Fine {
            continue;
        }
        let at = crate::text::unix_time(c.not_after);
        if !host
            .episode
            .changed(&format!("certificate {}", c.subject), &at)
        {
            continue;
        }
        let subject = crate::text::cut(&c.subject);
        tracing::warn!(
            message_id = logging::ids::CERT_EXPIRING,
            kesgate_endpoint = %endpoint,
            kesgate_cert_role = c.role,
            kesgate_cert_subject = %subject,
            kesgate_cert_not_after = %at,
            "KES {endpoint}: the {} certificate \"{subject}\" expires at {at}, within [watch] warn_before\n  fix: renew it before then: once it expires, every KMS call of MinIO fails",
            c.role,
        );
    }
}

pub(super) async fn round_trip(host: &Host<'_>, run: &mut Run) -> Result<(), Error> {
    let key = &host.settings.kes.default_key;
    host.notifier.status(&format!(
        "KES ready; checking generate/decrypt with key {key} as MinIO will"
    ));
    let session = run.kes(host.settings);
    let trip = keys::as_minio_starts(&session, key).await?;
    let warning = trip
        .describe_denied
        .as_deref()
        .map(|route| warn_describe_denied(host, &session, route));
    run.warnings.extend(warning);
    Ok(())
}

pub(super) async fn render(host: &Host<'_>, run: &mut Run) -> Result<(), Error> {
    let s = host.settings;
    host.notifier
        .status(&format!("rendering {}", s.env_file.path.display()));
    let options = render::Options {
        action: match host.slice {
            Slice::Start => render::Action::WriteOrLeaveToPreflight,
            _ => render::Action::Write,
        },
        diff: false,
        config: &s.path,
    };
    let rendered = render::render(&s.kes, &s.env_file, &host.unit, options).await?;
    rendered.tell(false);
    run.rendered = Some(rendered);
    Ok(())
}

pub(super) async fn keys(host: &Host<'_>, run: &mut Run) -> Result<(), Error> {
    let session = run.kes(host.settings);
    let (mut created, mut existed) = (0, 0);
    for key in &host.settings.keys {
        host.notifier.status(&format!("checking key {key}"));
        match keys::ensure(&session, key).await? {
            keys::KeyOutcome::Created => created += 1,
            keys::KeyOutcome::Existed => existed += 1,
        }
    }
    let counts = (created, existed);
    run.keys = Some(counts);
    Ok(())
}

pub(super) async fn buckets(host: &Host<'_>, run: &mut Run) -> Result<(), Error> {
    run.buckets = Some(buckets::run(host.settings, &host.unit, host.notifier).await?);
    Ok(())
}

/// MinIO starts without describe, but its keep-alive (every 10 s) will log
/// errors: told once per episode, and returned for STATUS=.
fn warn_describe_denied(host: &Host<'_>, session: &keys::Session<'_>, route: &str) -> String {
    let short = format!("KES denies MinIO's identity {route} (MinIO's keep-alive)");
    if host.episode.changed("describe", "denied") {
        tracing::warn!(
            message_id = logging::ids::DESCRIBE_DENIED,
            kesgate_endpoint = %session.endpoint,
            kesgate_key = %session.kes.default_key,
            kesgate_route = route,
            "{short}: MinIO starts, but logs an error every 10 s\n  fix: add `- /v1/key/describe/*` to the allow list of MinIO's identity {} in KES's policy and restart KES",
            session.kes.identity(),
        );
    }
    short
}

fn log_start(host: &Host<'_>, trust: &crate::net::tls::CaSource) {
    let s = host.settings;
    let line = format!(
        "waiting for KES ({} endpoint(s), require {}) as identity {} ({}), trusting what MinIO trusts: {trust}; configuration {}",
        s.kes.endpoints.len(),
        s.wait.require,
        s.kes.identity(),
        s.kes.auth.describe(),
        s.path.display(),
    );
    // A retrying unit said this when the trouble began.
    if host.episode.ongoing() {
        tracing::debug!("{line}");
    } else {
        tracing::info!("{line}");
    }
}
