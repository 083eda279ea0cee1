//! The wait (crate::chain names its place): until KES is reachable over TLS with our identity, our
//! identity is authorised, and its key store answers. Transient states are
//! retried with backoff; permanent ones fail at once with the fix.

mod diagnosis;
pub(crate) use diagnosis::{Diagnosis, combine};
mod inspect;
mod kes_unit;
pub(crate) mod probe;

use std::fmt::Write as _;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{Endpoint, KesSettings, Require, WaitSettings};
use crate::host::systemd::episode::Episode;
use crate::host::systemd::notify::Notifier;
use crate::kes_types::policy::policy_yaml;
use crate::logging::ids;
use crate::peers::kes::client::KesClient;
use crate::peers::vault::VaultWatch;
use crate::retry::Retry;
pub(crate) use inspect::inspect;
use probe::{Api, Outcome, Permanent, probe};
pub(crate) use probe::{Kind, NotReady};

/// After the local KES unit turns active: probe this often…
const BURST_INTERVAL: Duration = Duration::from_millis(10);
/// …for this long (KES needs a moment between "started" and "listening").
const BURST_WINDOW: Duration = Duration::from_secs(3);

/// The least time a Vault poll may take, even before a short pause.
const VAULT_MIN_WAIT: Duration = Duration::from_millis(250);

/// How long past the next attempt the service manager should give us before
/// deciding we hang: the longest request plus a margin.
const EXTEND_MARGIN: Duration = Duration::from_secs(20);

/// What a successful wait reports.
#[derive(Debug)]
pub(crate) struct Ready {
    pub endpoint: Endpoint,
    pub via: &'static str,
    pub waited: Duration,
    /// Ready, but the key store was not proven to answer now.
    pub unproven: Option<probe::Unproven>,
}

impl Ready {
    /// The STATUS= line: where KES is ready, how that was seen, and what
    /// was not proven.
    pub(crate) fn summary(&self) -> String {
        match &self.unproven {
            None => format!("KES ready: {} ({})", self.endpoint, self.via),
            Some(u) => format!("KES ready: {} ({}); {u}", self.endpoint, self.via),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum WaitError {
    #[error("KES was not ready after {}: {}{}\n  fix: {}", humantime::format_duration(*waited), summary(last), vault.as_ref().map(|v| format!("\n  {v}")).unwrap_or_default(), timed_out_fix(last, vault.as_ref()))]
    TimedOut {
        waited: Duration,
        last: Vec<(Endpoint, NotReady)>,
        /// What the Vault behind KES said last ([vault]), combined with KES.
        vault: Option<Diagnosis>,
    },
    #[error(
        "KES {endpoint} refused identity {identity} for {path} (HTTP 403: {message})\n  fix: add this policy to KES's configuration (or the identity to an existing policy) and restart KES:\n{policy}"
    )]
    Forbidden {
        endpoint: Endpoint,
        identity: String,
        path: String,
        message: String,
        policy: String,
    },
    #[error(
        "KES {endpoint}: the server certificate is not trusted: {detail}{trust}\n  fix: set [kes] ca to the CA that signed KES's certificate (file or directory; MinIO reads it as its own user), and use a host name that the certificate names"
    )]
    Untrusted {
        endpoint: Endpoint,
        detail: String,
        /// What was trusted, as MinIO trusts it.
        trust: String,
    },
    #[error("KES {endpoint} rejected our client certificate: {why} ({detail})\n  fix: {fix}")]
    ClientCertRejected {
        endpoint: Endpoint,
        detail: String,
        why: String,
        fix: String,
    },
    #[error(
        "{endpoint} does not answer like KES: {detail}\n  fix: check the host and port of the endpoint (KES listens on https://…:7373 by default)"
    )]
    Protocol { endpoint: Endpoint, detail: String },
}

fn timed_out_fix(last: &[(Endpoint, NotReady)], vault: Option<&Diagnosis>) -> &'static str {
    // A wrong clock or too few descriptors is fixed whatever the Vault says.
    for kind in [Kind::CertificateTime, Kind::LocalLimit] {
        if last.iter().any(|(_, n)| n.kind == kind) {
            return kind.fix();
        }
    }
    match vault {
        Some(d) => d.fix,
        None => {
            "start KES and unseal its key store (e.g. `bao operator unseal`), or raise [wait] timeout"
        }
    }
}

/// How many endpoints a timeout names; the rest are counted.
const SUMMARY_ENDPOINTS: usize = 3;

fn summary(last: &[(Endpoint, NotReady)]) -> String {
    let mut s = String::new();
    for (i, (url, nr)) in last.iter().take(SUMMARY_ENDPOINTS).enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        let _ = write!(
            s,
            "{url}: {} ({})",
            nr.kind.describe(),
            crate::text::cut(&nr.detail)
        );
    }
    if last.len() > SUMMARY_ENDPOINTS {
        let _ = write!(s, "; and {} more endpoints", last.len() - SUMMARY_ENDPOINTS);
    }
    if s.is_empty() {
        "no answer yet".into()
    } else {
        s
    }
}

struct Tracked {
    url: Endpoint,
    api: Api,
    ready: bool,
    last: Option<NotReady>,
    unproven: Option<probe::Unproven>,
}

/// What one wait is given: the settings, the bound of this wait, and what
/// is trusted (named when a server is not).
pub(crate) struct Inputs<'a> {
    pub kes: &'a KesSettings,
    pub wait: &'a WaitSettings,
    /// `[wait] timeout`, or the preflight's attempt bound; `None`: forever.
    pub timeout: Option<Duration>,
    /// "trusted: the system roots + PATH, as MinIO does" and what MinIO's
    /// user cannot read.
    pub trust: &'a str,
}

/// Waits until KES is ready (as `require` says), a permanent failure, or
/// the bound.
pub(crate) async fn wait(
    inputs: &Inputs<'_>,
    client: &KesClient,
    vault: Option<&mut VaultWatch>,
    notifier: &Notifier,
    episode: &Episode,
) -> Result<Ready, WaitError> {
    let (kes, settings) = (inputs.kes, inputs.wait);
    let mut retry: Retry<()> = Retry::new(inputs.timeout, settings.max_interval);
    let mut endpoints: Vec<Tracked> = kes
        .endpoints
        .iter()
        .map(|url| Tracked {
            url: url.clone(),
            api: Api::Unknown,
            ready: false,
            last: None,
            unproven: None,
        })
        .collect();
    let mut pauses = Pauses::new(settings, vault, notifier, episode).await;
    loop {
        let attempt = retry.attempt();
        let round = round(
            kes,
            settings.require,
            client,
            &mut endpoints,
            attempt,
            episode,
        );
        let outcome = match retry.deadline() {
            Some(d) => tokio::time::timeout_at(d, round).await.ok(),
            None => Some(round.await),
        };
        match outcome {
            Some(Ok(Some((endpoint, via)))) => {
                let waited = retry.waited();
                if let Some(ready) =
                    confirm(&mut endpoints, endpoint, via, &mut pauses, waited).await
                {
                    tell_ready(&ready, attempt, pauses.watch.active_at);
                    notifier.status(&ready.summary());
                    return Ok(ready);
                }
            }
            Some(Ok(None)) => {}
            Some(Err((endpoint, permanent))) => {
                return Err(permanent_error(kes, inputs.trust, endpoint, permanent));
            }
            None => return Err(timed_out(retry.waited(), &endpoints, pauses.vault_note)),
        }
        if !pauses.pause(&mut retry, &endpoints, attempt).await {
            return Err(timed_out(retry.waited(), &endpoints, pauses.vault_note));
        }
    }
}

/// The ready endpoint, unless its key came from KES's cache (freshness
/// unproven) while the Vault behind KES says it cannot serve keys: then the
/// endpoint is not ready after all.
async fn confirm(
    endpoints: &mut [Tracked],
    endpoint: Endpoint,
    via: &'static str,
    pauses: &mut Pauses<'_, '_>,
    waited: Duration,
) -> Option<Ready> {
    let unproven = endpoints
        .iter()
        .find(|e| e.url == endpoint)
        .and_then(|e| e.unproven.clone());
    // Freshness not proven (the absent-key probe is not allowed), so a key
    // may have come from KES's cache: the Vault's own answer is the fresh
    // signal. Sealed or not initialised, it cannot serve keys: not ready.
    let vault_cannot_serve = match (&unproven, pauses.vault.as_deref_mut()) {
        (Some(_), Some(v)) => vault_cannot_serve(v).await,
        _ => None,
    };
    let Some(why) = vault_cannot_serve else {
        return Some(Ready {
            unproven,
            endpoint,
            via,
            waited,
        });
    };
    if let Some(t) = endpoints.iter_mut().find(|e| e.url == endpoint) {
        t.ready = false;
        t.last = Some(NotReady {
            kind: Kind::KeyStoreUnreachable,
            detail: format!("answers from its cache (freshness unproven), and {why}"),
        });
    }
    None
}

/// The Vault behind KES, asked once (bounded): why it cannot serve keys
/// (sealed, not initialised), or `None` when it can or did not answer.
async fn vault_cannot_serve(v: &mut VaultWatch) -> Option<String> {
    use crate::peers::vault::VaultState;
    let seen = tokio::time::timeout(Duration::from_secs(2), v.poll())
        .await
        .ok()?;
    matches!(
        seen.state(),
        VaultState::Sealed | VaultState::NotInitialized
    )
    .then(|| seen.describe())
}

/// What the wait does between attempts: ask the Vault why KES is not
/// ready, say so on STATUS=, and sleep — cut short when the local KES
/// unit turns active (then probe densely for a moment).
struct Pauses<'a, 'v> {
    unit: &'a str,
    watch: UnitWatch,
    vault: Option<&'v mut VaultWatch>,
    /// What the Vault behind KES said last, combined with KES's state.
    vault_note: Option<Diagnosis>,
    notifier: &'a Notifier,
    episode: &'a Episode,
}

impl<'a, 'v> Pauses<'a, 'v> {
    /// No pause yet; the local KES unit watched when there is one.
    async fn new(
        settings: &'a WaitSettings,
        vault: Option<&'v mut VaultWatch>,
        notifier: &'a Notifier,
        episode: &'a Episode,
    ) -> Pauses<'a, 'v> {
        Pauses {
            unit: settings.kes_unit.as_deref().unwrap_or_default(),
            watch: UnitWatch {
                events: match settings.kes_unit.as_deref() {
                    Some(u) => kes_unit::watch(u).await,
                    None => None,
                },
                note: None,
                last: None,
                burst_until: None,
                active_at: None,
            },
            vault,
            vault_note: None,
            notifier,
            episode,
        }
    }
}

impl Pauses<'_, '_> {
    /// Pauses before the next attempt; false once the bound has passed.
    async fn pause(&mut self, retry: &mut Retry<()>, endpoints: &[Tracked], attempt: u32) -> bool {
        let dense = self
            .watch
            .burst_until
            .is_some_and(|until| Instant::now() < until)
            .then_some(BURST_INTERVAL);
        let Some(mut delay) = retry.next_pause(dense) else {
            return false;
        };
        // KES is not ready: ask its Vault why (one request per attempt),
        // within the pause, so that the wait's pace stays the same.
        if let Some(v) = self.vault.as_deref_mut() {
            let asked = Instant::now();
            if let Ok(seen) = tokio::time::timeout(delay.max(VAULT_MIN_WAIT), v.poll()).await {
                let note = diagnosis::combine(
                    &endpoints_kinds(endpoints),
                    &seen,
                    self.unit,
                    self.watch.last.as_ref(),
                );
                diagnosis::tell(&seen, &note, self.episode);
                self.vault_note = Some(note);
            }
            delay = delay.saturating_sub(asked.elapsed());
        }
        // The cause and what to do first (the Vault's account, the KES
        // unit's state), the endpoints' states and counters last.
        let line = [
            self.watch.note.clone(),
            self.vault_note.as_ref().map(ToString::to_string),
            Some(status_line(endpoints, attempt, delay)),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        self.notifier.status(&line);
        self.notifier.extend_timeout(delay + EXTEND_MARGIN);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            Some(event) = next_event(&mut self.watch.events) => {
                tell_unit_event(self.unit, &event, self.episode);
                if event == kes_unit::UnitEvent::Active {
                    // Probe now, then densely: started is not yet listening.
                    self.watch.burst_until = Some(Instant::now() + BURST_WINDOW);
                    self.watch.active_at = Some(Instant::now());
                    retry.reset();
                }
                self.watch.note = event.is_trouble().then(|| event.describe(self.unit));
                self.watch.last = Some(event);
            }
        }
        true
    }
}

/// The local KES unit as the wait follows it.
struct UnitWatch {
    events: Option<tokio::sync::mpsc::UnboundedReceiver<kes_unit::UnitEvent>>,
    /// What STATUS= says about it while it is in trouble.
    note: Option<String>,
    last: Option<kes_unit::UnitEvent>,
    /// Probe densely until then: it turned active a moment ago.
    burst_until: Option<Instant>,
    active_at: Option<Instant>,
}

/// The journal entry for the end of the wait.
fn tell_ready(ready: &Ready, attempt: u32, unit_active_at: Option<Instant>) {
    // How quickly the watch turned "started" into "ready".
    let after_unit = unit_active_at.map(|t| t.elapsed().as_millis() as u64);
    tracing::info!(
        message_id = ids::KES_READY,
        kesgate_endpoint = %ready.endpoint,
        kesgate_attempt = attempt,
        kesgate_waited_ms = ready.waited.as_millis() as u64,
        kesgate_since_unit_active_ms = after_unit,
        "KES {} is ready (checked {}, attempt {attempt}, waited {})",
        ready.endpoint,
        ready.via,
        humantime::format_duration(round_ms(ready.waited)),
    );
}

/// The next state change of the watched unit; pending forever without one.
async fn next_event(
    events: &mut Option<tokio::sync::mpsc::UnboundedReceiver<kes_unit::UnitEvent>>,
) -> Option<kes_unit::UnitEvent> {
    match events {
        Some(rx) => match rx.recv().await {
            Some(e) => Some(e),
            None => {
                *events = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// Once per change (also across attempts of a restarting unit).
fn tell_unit_event(unit: &str, event: &kes_unit::UnitEvent, episode: &Episode) {
    let state = match event {
        kes_unit::UnitEvent::Active => "active".to_owned(),
        kes_unit::UnitEvent::Starting => "starting".to_owned(),
        kes_unit::UnitEvent::Failed(r) => format!("failed:{r}"),
        kes_unit::UnitEvent::Stopped => "stopped".to_owned(),
    };
    let text = event.describe(unit);
    if !episode.changed(unit, &state) {
        tracing::debug!("{text}");
    } else if event.is_trouble() {
        tracing::warn!(message_id = ids::KES_UNIT, kesgate_unit = unit, kesgate_unit_state = %state, "{text}: KES will not come up by itself; see `systemctl status {unit}`");
    } else {
        tracing::info!(message_id = ids::KES_UNIT, kesgate_unit = unit, kesgate_unit_state = %state, "{text}");
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// The state of each endpoint not yet ready (for the Vault diagnosis).
fn endpoints_kinds(endpoints: &[Tracked]) -> Vec<Kind> {
    endpoints
        .iter()
        .filter(|e| !e.ready)
        .filter_map(|e| e.last.as_ref().map(|l| l.kind))
        .collect()
}

fn timed_out(waited: Duration, endpoints: &[Tracked], vault: Option<Diagnosis>) -> WaitError {
    WaitError::TimedOut {
        vault,
        waited: round_ms(waited),
        last: endpoints
            .iter()
            .filter(|e| !e.ready)
            .map(|e| {
                let nr = e.last.clone().unwrap_or(NotReady {
                    kind: Kind::Unreachable,
                    detail: "no answer before the timeout".into(),
                });
                (e.url.clone(), nr)
            })
            .collect(),
    }
}

/// Probes every endpoint not yet ready, concurrently. Returns the ready
/// endpoint once `require` is met, `None` to retry, or the first permanent
/// failure (any endpoint's: MinIO fails over only on 5xx, so a 403 from one
/// KES breaks MinIO as surely as from all).
async fn round(
    kes: &KesSettings,
    require: Require,
    client: &KesClient,
    endpoints: &mut [Tracked],
    attempt: u32,
    episode: &Episode,
) -> Result<Option<(Endpoint, &'static str)>, (Endpoint, Permanent)> {
    let mut set = JoinSet::new();
    for (i, e) in endpoints.iter().enumerate().filter(|(_, e)| !e.ready) {
        let (client, url, key, mut api) = (
            client.clone(),
            e.url.clone(),
            kes.default_key.clone(),
            e.api,
        );
        set.spawn(async move {
            let outcome = probe(&client, &url, &mut api, &key).await;
            (i, api, outcome)
        });
    }
    let mut via_last = "/v1/ready";
    while let Some(joined) = set.join_next().await {
        let Ok((i, api, outcome)) = joined else {
            continue;
        };
        let e = &mut endpoints[i];
        e.api = api;
        match outcome {
            Outcome::Ready { via, unproven } => {
                e.ready = true;
                via_last = via;
                if let Some(u) = &unproven {
                    tell_unproven(&e.url, u, episode);
                }
                e.unproven = unproven;
                if require == Require::Any {
                    return Ok(Some((e.url.clone(), via)));
                }
            }
            Outcome::NotReady(nr) => {
                // Once per change, also across attempts of a restarting unit.
                if episode.changed(&e.url.to_string(), nr.kind.as_str()) {
                    tracing::warn!(
                        message_id = ids::KES_NOT_READY,
                        kesgate_endpoint = %e.url,
                        kesgate_attempt = attempt,
                        kesgate_error_kind = nr.kind.as_str(),
                        "KES {}: {}: {}",
                        e.url,
                        nr.kind.describe(),
                        nr.detail
                    );
                } else {
                    tracing::debug!("KES {}: still {}: {}", e.url, nr.kind.as_str(), nr.detail);
                }
                e.last = Some(nr);
            }
            Outcome::Failed(p) => return Err((e.url.clone(), p)),
        }
    }
    if endpoints.iter().all(|e| e.ready) {
        let last = endpoints
            .last()
            .map(|e| e.url.clone())
            .expect("at least one endpoint");
        return Ok(Some((last, via_last)));
    }
    Ok(None)
}

/// Ready, but not proven fresh: said once per change (warning), and kept
/// for the final STATUS= line.
fn tell_unproven(url: &Endpoint, u: &probe::Unproven, episode: &Episode) {
    if episode.changed(&format!("{url} freshness"), &u.why) {
        tracing::warn!(
            message_id = ids::KES_NOT_READY,
            kesgate_endpoint = %url,
            kesgate_error_kind = "freshness_unproven",
            "KES {url}: {u}"
        );
    }
}

fn status_line(endpoints: &[Tracked], attempt: u32, next: Duration) -> String {
    let waiting: Vec<&Tracked> = endpoints.iter().filter(|e| !e.ready).collect();
    let first = waiting.first().map_or_else(String::new, |e| {
        let what = e
            .last
            .as_ref()
            .map_or("no answer yet", |l| l.kind.describe());
        format!("KES {}: {what}", e.url)
    });
    let more = match waiting.len() {
        0 | 1 => String::new(),
        n => format!(" (+{} more endpoints)", n - 1),
    };
    format!(
        "{first}{more}, attempt {attempt}, next in {} ms",
        next.as_millis()
    )
}

/// The complete error for a permanent failure: the sentence and fix `wait`
/// prints (and `status` shows). `trust`: what is trusted, as MinIO does.
pub(crate) fn permanent_error(
    kes: &KesSettings,
    trust: &str,
    endpoint: Endpoint,
    p: Permanent,
) -> WaitError {
    match p {
        Permanent::Forbidden { path, message } => {
            let identity = kes.identity().to_string();
            let policy = policy_yaml("minio", &identity);
            WaitError::Forbidden {
                endpoint,
                identity,
                path,
                message,
                policy,
            }
        }
        Permanent::Untrusted(detail) => WaitError::Untrusted {
            endpoint,
            detail,
            trust: trust.to_owned(),
        },
        Permanent::ClientCertRejected(detail) => {
            let (why, fix) = client_cert_advice(kes, &detail);
            WaitError::ClientCertRejected {
                endpoint,
                detail,
                why: why.into(),
                fix: fix.into(),
            }
        }
        Permanent::Protocol(detail) => WaitError::Protocol { endpoint, detail },
    }
}

/// What a TLS alert about our client certificate means. An API key's
/// certificate is self-signed: KES 2023 releases verify client certificates
/// by default and answer it with `unknown_ca` (docs/facts.md, "KES releases").
fn client_cert_advice(kes: &KesSettings, detail: &str) -> (&'static str, &'static str) {
    let api_key = matches!(kes.auth, crate::config::Auth::ApiKey { .. });
    if detail.contains("UnknownCA") || detail.contains("UnknownCa") {
        if api_key {
            return (
                "KES verifies client certificates and the API key's certificate is self-signed (TLS alert unknown_ca); KES 2023 releases do so unless started with `--auth=off`",
                "start KES with `kes server --auth=off` (2023 releases; MinIO's API key needs it too), or remove `tls.auth: on` from KES's config (2024+); or use [kes] cert_file/key_file with a certificate signed by a CA that KES trusts",
            );
        }
        return (
            "KES does not trust the CA that signed [kes] cert_file (TLS alert unknown_ca)",
            "sign the client certificate with a CA in KES's tls.ca, or run KES with `--auth=off` (2023) / without `tls.auth: on` (2024+)",
        );
    }
    if detail.contains("CertificateRequired") {
        return (
            "KES got no client certificate (TLS alert certificate_required)",
            "check [kes] api_key_file / cert_file; KES requires a client certificate",
        );
    }
    (
        "KES refused it in the TLS handshake",
        "run KES with client verification off (the default since 2024-03; `kes server --auth=off` on 2023 releases) or use cert_file/key_file signed by a CA KES trusts",
    )
}

impl WaitError {
    /// The unit's last STATUS= line: the cause and its fix first, then that
    /// the wait gave up (a timeout keeps what the Vault said, which the
    /// first line of the message alone would drop).
    pub(crate) fn status_line(&self) -> Option<String> {
        let WaitError::TimedOut {
            waited,
            last,
            vault,
        } = self
        else {
            return None;
        };
        let cause = match vault {
            Some(d) => d.text.clone(),
            None => summary(last),
        };
        Some(format!(
            "{cause}; fix: {}; gave up after {}",
            timed_out_fix(last, vault.as_ref()),
            humantime::format_duration(*waited)
        ))
    }

    /// The endpoint the failure is about, for the journal's KESGATE_ENDPOINT.
    pub(crate) fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            WaitError::TimedOut { last, .. } => last.first().map(|(e, _)| e),
            WaitError::Forbidden { endpoint, .. }
            | WaitError::Untrusted { endpoint, .. }
            | WaitError::ClientCertRejected { endpoint, .. }
            | WaitError::Protocol { endpoint, .. } => Some(endpoint),
        }
    }
}
