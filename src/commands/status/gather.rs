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
use crate::peers::s3::S3Client;
use crate::peers::vault::VaultState;
use crate::stages::buckets::{credentials, current, strip_arn};
use crate::stages::keys;
use crate::stages::render;
use crate::stages::wait::{self, probe::Api};
use crate::text::headline;

/// The kesgate units and MinIO's (`[minio] unit`), in boot-chain order.
fn unit_names<'a>(kes_unit: Option<&'a str>, minio: &'a str) -> Vec<&'a str> {
    kes_unit
        .into_iter()
        .chain([
            "kesgate.service",
            "kesgate-keys.service",
            minio,
            "kesgate-buckets.service",
        ])
        .collect()
}

/// kesgate's drop-in for MinIO's unit, as packaged.
const DROP_IN: &str = ".d/kesgate.conf";

/// Whether `path` is kesgate's drop-in for `minio`: the packaged one, or
/// any drop-in of that unit that runs `kesgate preflight` (as
/// crate::host::minio_unit judges it).
fn is_ours(path: &str, minio: &str) -> bool {
    path.ends_with(&format!("{minio}{DROP_IN}"))
        || crate::files::regular::read_text(
            std::path::Path::new(path),
            crate::files::regular::MAX_CONFIG,
        )
        .is_ok_and(|t| t.contains("kesgate preflight"))
}

pub async fn gather(config: &Path) -> Report {
    look(config, &Settings::load(config)).await
}

/// The report for a configuration already loaded (`watch` keeps the
/// settings for itself: parsed once).
pub async fn look(config: &Path, loaded: &Result<Settings, ConfigError>) -> Report {
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
    units(&mut r, kes_unit.as_deref(), &minio).await;
    if let Some(settings) = settings {
        r.checked = true;
        r.warn_before_days = settings.watch.warn_before.as_secs() / 86_400;
        r.identity = Some(settings.kes.identity().to_string());
        // minio.service, read once for every link below.
        let unit = crate::host::minio_unit::unit(settings).await;
        kes(&mut r, settings, &unit).await;
        vault(&mut r, settings).await;
        not_ready(&mut r, settings);
        env_file(&mut r, settings, &unit);
        fingerprint(&mut r, settings, &unit);
        buckets(&mut r, settings, &unit).await;
    }
    r.ok = r.problems.is_empty() && r.not_seen.is_empty();
    r
}

async fn units(r: &mut Report, kes_unit: Option<&str>, minio: &str) {
    let conn = match bus::system_bus().await {
        Ok(c) => c,
        Err(e) => {
            r.not_seen.push(format!("unit states ({e})"));
            return;
        }
    };
    let mut states = Vec::new();
    for name in unit_names(kes_unit, minio) {
        match bus::unit_state(&conn, name).await {
            Ok(u) => states.push(u),
            Err(e) => r.not_seen.push(format!("{name} ({e})")),
        }
    }
    for u in &states {
        if let Some(problem) = unit_problem(u, kes_unit, minio) {
            r.problems.push(problem);
        }
        if u.name == minio
            && let Some(file) = notify_access_all(u, minio)
        {
            r.problems.push(format!(
                "{file} sets NotifyAccess=all, which kesgate's drop-in replaces with NotifyAccess=exec: a wrapper that forks MinIO would lose its READY=1 (fix: let ExecStart= run MinIO itself, or set NotifyAccess=all in a drop-in named after kesgate's, e.g. minio.service.d/zz-notify.conf)"
            ));
        }
    }
    r.units = Some(states);
}

/// The unit's own file or a drop-in applied before kesgate's that sets
/// `NotifyAccess=all` in its [Service] section (kesgate's `exec` wins over
/// it; a later drop-in would win over kesgate's).
fn notify_access_all(u: &UnitState, minio: &str) -> Option<String> {
    let ours = u.drop_ins.iter().position(|d| is_ours(d, minio))?;
    let own =
        std::iter::once(u.fragment.as_str()).chain(u.drop_ins[..ours].iter().map(String::as_str));
    service_settings(own)
        .find(|(_, k, v)| k == "NotifyAccess" && v == "all")
        .map(|(file, _, _)| file.to_owned())
}

/// The `KEY=VALUE` lines of the [Service] sections of `files` (a unit's
/// own file and drop-ins, in order), each with the file it is in; files
/// that cannot be read are passed over.
fn service_settings<'a>(
    files: impl Iterator<Item = &'a str>,
) -> impl Iterator<Item = (&'a str, String, String)> {
    files.filter(|f| !f.is_empty()).flat_map(|file| {
        let text =
            crate::files::regular::read_text(Path::new(file), crate::files::regular::MAX_CONFIG)
                .unwrap_or_default();
        crate::unit_file::service_assignments(&text)
            .into_iter()
            .map(move |(k, v)| (file, k, v))
    })
}

fn unit_problem(u: &UnitState, kes_unit: Option<&str>, minio: &str) -> Option<String> {
    let name = &u.name;
    let why = || {
        let mut s = format!("{}/{}", u.active_state, u.sub_state);
        if let Some(result) = u.result.as_deref().filter(|r| *r != "success") {
            s.push_str(&format!(", result {result}"));
        }
        if let Some(text) = &u.status_text {
            s.push_str(&format!(": {text}"));
        }
        s
    };
    if !u.exists() {
        // A remote KES has no local unit; that is fine.
        return (Some(name.as_str()) != kes_unit).then(|| format!("{name} is not installed"));
    }
    let seeding = name.starts_with("kesgate-");
    match u.active_state.as_str() {
        "active" => {}
        // A seeding unit that never ran (condition false, not yet wanted) is not broken;
        // nor is one still at work (a status right after MinIO's start): its failure
        // would be.
        "inactive" if seeding && u.result.as_deref() == Some("success") => {}
        "activating" if seeding => {}
        "failed" => {
            return Some(format!(
                "{name} is {}; fix: `journalctl -u {name}` says why; then `systemctl reset-failed {name}` and `systemctl start {name}`",
                why()
            ));
        }
        _ => {
            return Some(format!(
                "{name} is {}; fix: `systemctl start {name}` (`systemctl status {name}` says what it waits for)",
                why()
            ));
        }
    }
    if name == minio && !u.drop_ins.iter().any(|d| is_ours(d, minio)) {
        return Some(format!(
            "{minio} runs without kesgate's drop-in ({minio}{DROP_IN}): MinIO restarts are not checked; fix: reinstall kesgate (for another unit name, copy /usr/lib/systemd/system/minio.service.d/kesgate.conf to /etc/systemd/system/{minio}{DROP_IN}), then `systemctl daemon-reload`"
        ));
    }
    None
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
    for (_, members) in groups {
        let first = members[0];
        let mut text = if members.len() == 1 {
            first.sentence()
        } else if members.len() == all {
            format!(
                "KES, all {all} endpoints: {}",
                first.state.replace(&first.endpoint, "KES")
            )
        } else {
            let names: Vec<&str> = members.iter().map(|e| e.endpoint.as_str()).collect();
            format!(
                "KES {}: {}",
                names.join(", "),
                first.state.replace(&first.endpoint, "KES")
            )
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
            r.problems.push(format!("Vault client: {}", headline(&e)));
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

async fn kes(r: &mut Report, settings: &Settings, unit: &crate::host::minio_unit::MinioUnit) {
    let connection = match crate::stages::kes_connection(settings, unit).await {
        Ok(c) => c,
        Err(e) => {
            let text = format!("KES client: {}", headline(&e));
            r.problems.push(text.clone());
            r.kes_client_error = Some(text);
            return;
        }
    };
    r.trust = Some(connection.source.to_string());
    let (client, trust) = (&connection.client, connection.trust.as_str());
    let mut ready_endpoint = None;
    // All endpoints at once (a few at a time), each bounded by one
    // request's timeout: `status` answers in seconds however many are down.
    use futures_util::StreamExt as _;
    let statuses: Vec<EndpointStatus> =
        futures_util::stream::iter(settings.kes.endpoints.iter().map(|endpoint| async move {
            let bound = crate::peers::kes::client::REQUEST_TIMEOUT;
            tokio::time::timeout(bound, endpoint_status(client, settings, trust, endpoint))
                .await
                .unwrap_or_else(|_| EndpointStatus {
                    endpoint: endpoint.to_string(),
                    ready: false,
                    condition: "no_answer".to_owned(),
                    state: format!(
                        "no complete answer within {}",
                        humantime::format_duration(bound)
                    ),
                    latency_ms: bound.as_millis() as u64,
                    round_trip_ms: None,
                    default_key_present: None,
                    version: None,
                    api: None,
                    round_trip: None,
                    unproven: None,
                    certificates: Vec::new(),
                    earliest_expiry: None,
                    days_left: None,
                })
        }))
        .buffered(STATUS_CONCURRENCY)
        .collect()
        .await;
    let client_cert = client_certificate(settings);
    let mut told = std::collections::BTreeSet::new();
    for (endpoint, mut status) in settings.kes.endpoints.iter().zip(statuses) {
        let host = endpoint.server_name();
        status.certificates = connection
            .pool
            .seen(&host)
            .into_iter()
            .chain(client_cert.clone())
            .collect();
        if let Some((earliest, days)) = expiry(
            r,
            settings,
            &format!("KES {endpoint}"),
            &status.certificates,
            &mut told,
        ) {
            status.earliest_expiry = Some(earliest);
            status.days_left = Some(days);
        }
        if status.ready && ready_endpoint.is_none() {
            ready_endpoint = Some(endpoint.clone());
        }
        if let Some(problem) = status.round_trip_problem() {
            r.problems.push(problem);
        }
        if let Some(u) = &status.unproven {
            r.not_seen.push(format!(
                "whether KES {endpoint}'s key store answers now: {u}"
            ));
        }
        r.kes.push(status);
    }

    // The default key's presence is what the round trip on the ready
    // endpoint proved: one describe less per round.
    let proven = ready_endpoint.as_ref().and_then(|ep| {
        r.kes
            .iter()
            .find(|e| e.endpoint == ep.to_string())
            .and_then(|e| e.default_key_present)
    });
    for key in &settings.keys {
        let present = match (&ready_endpoint, proven) {
            (Some(_), Some(p)) if *key == settings.kes.default_key => Some(p),
            (Some(ep), _) => key_present(client, ep, key).await,
            (None, _) => None,
        };
        match present {
            Some(false) => r.problems.push(format!("key {key} is missing on KES")),
            None if ready_endpoint.is_some() => {
                r.not_seen.push(format!("whether key {key} exists"));
            }
            _ => {}
        }
        r.keys.push(KeyStatus {
            name: key.to_string(),
            present,
        });
    }
}

/// Our client certificate (cert/key auth): it expires too. An API key's
/// certificate is made afresh at every start.
fn client_certificate(settings: &Settings) -> Option<SeenCert> {
    let crate::config::Auth::CertFile { .. } = settings.kes.auth else {
        return None;
    };
    let (chain, _) = settings.kes.client.pair();
    let leaf = crate::net::tls::cert::Cert::parse(chain.first()?.as_ref()).ok()?;
    Some(SeenCert {
        role: "client",
        subject: leaf.subject_text,
        not_after: leaf.not_after,
    })
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

/// The fleet fingerprint of MinIO's environment as MinIO will read it,
/// keyed with the secret every node shares: the cluster's API key, or
/// `[watch] fingerprint_key_file` with certificate auth.
fn fingerprint(r: &mut Report, settings: &Settings, unit: &crate::host::minio_unit::MinioUnit) {
    let view = match render::minio_view(&settings.env_file, unit) {
        Ok(view) => view,
        Err(e) => {
            r.fingerprint_note = Some(format!("no fingerprint: {}", headline(&e)));
            return;
        }
    };
    let volumes = view.effective.get("MINIO_VOLUMES").map(String::as_str);
    if crate::fleet::distributed(volumes).is_some() {
        host_local(r, settings);
    }
    let secret: Vec<u8> = match (&settings.kes.auth, &settings.watch.fingerprint_key) {
        (_, Some(k)) => k.expose().clone(),
        (crate::config::Auth::ApiKey { key, .. }, None) => {
            key.to_text().expose().as_bytes().to_vec()
        }
        (crate::config::Auth::CertFile { .. }, None) => {
            r.fingerprint_note = Some(
                "no fingerprint: with certificate auth the nodes share no secret; set [watch] fingerprint_key_file to the same key file on every node".into(),
            );
            return;
        }
    };
    r.fingerprint = Some(crate::fleet::fingerprint(&view.effective, &secret));
}

/// What in this host's kesgate configuration alone would make its MINIO_*
/// set differ from its peers' (a node of a distributed MinIO, or one that
/// cannot be told apart from one): a rendered value naming this host, or
/// an API key from a host-local systemd credential.
fn host_local(r: &mut Report, settings: &Settings) {
    let desired = render::desired(&settings.kes, &settings.env_file, &settings.path);
    let hostname = crate::files::regular::read_text(
        Path::new("/proc/sys/kernel/hostname"),
        crate::files::regular::MAX_CONFIG,
    )
    .unwrap_or_default();
    for name in crate::fleet::naming_this_host(&desired.set, &hostname) {
        r.warnings.push(format!(
            "{name}, as kesgate renders it, names this host ({}): every node of the cluster gets another value, and MinIO refuses a node whose MINIO_* set differs from its peers'; fix: give it the same value on every node (a path or name without the host's), in {}",
            hostname.trim(),
            settings.path.display()
        ));
    }
    let kesgate = r
        .units
        .iter()
        .flatten()
        .find(|u| u.name == "kesgate.service");
    if let Some(u) = kesgate
        && let Some((file, directive)) = credential_directive(u)
    {
        r.warnings.push(format!(
            "kesgate.service takes the API key from the host-local systemd credential {} ({directive} in {file}), which wins over the key {} names: a distributed MinIO needs the one API key of the cluster on every node; fix: put the same key in that credential on every node (the fleet fingerprints then agree), or remove {directive} and keep the key in api_key_file",
            crate::config::API_KEY_CREDENTIAL,
            settings.path.display()
        ));
    }
}

/// The unit file or drop-in of `u` that loads the `kes-api-key`
/// credential, and the directive that does it.
fn credential_directive(u: &UnitState) -> Option<(String, String)> {
    let files = std::iter::once(u.fragment.as_str()).chain(u.drop_ins.iter().map(String::as_str));
    service_settings(files)
        .find(|(_, k, v)| {
            k.contains("Credential")
                && v.split(':').next() == Some(crate::config::API_KEY_CREDENTIAL)
        })
        .map(|(file, k, _)| (file.to_owned(), format!("{k}=")))
}

/// How many KES endpoints `status` asks at the same time.
const STATUS_CONCURRENCY: usize = 16;

async fn endpoint_status(
    client: &KesClient,
    settings: &Settings,
    trust: &str,
    endpoint: &Endpoint,
) -> EndpointStatus {
    let started = Instant::now();
    let seen = wait::inspect(client, &settings.kes, trust, endpoint).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (version, generation) = server_info(client, endpoint, seen.api).await;
    let mut round_trip_ms = None;
    let mut default_key_present = None;
    let round_trip = if seen.ready {
        let session = keys::Session {
            client,
            kes: &settings.kes,
            endpoint,
            vault: settings.vault.as_ref(),
        };
        let started = Instant::now();
        let seen = keys::inspect(&session, &settings.kes.default_key).await;
        default_key_present = seen.present;
        let said = seen.said;
        // Microseconds count: a loopback round trip is well under 1 ms.
        round_trip_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        Some(said)
    } else {
        None
    };
    let (ready, state, unproven) = (seen.ready, seen.state, seen.unproven);
    EndpointStatus {
        endpoint: endpoint.to_string(),
        ready,
        condition: seen.condition.to_owned(),
        state,
        latency_ms,
        round_trip_ms,
        default_key_present,
        version,
        api: generation,
        round_trip,
        unproven,
        certificates: Vec::new(),
        earliest_expiry: None,
        days_left: None,
    }
}

/// Version and API generation (crate::peers::kes::generation): whether
/// `/v1/ready` exists, then `/v1/status`'s `version` (the release name) and
/// content type; `/version` (never checks identity) when status is refused.
async fn server_info(
    client: &KesClient,
    endpoint: &Endpoint,
    api: Api,
) -> (Option<String>, Option<String>) {
    let json = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).ok();
    let version_of = |resp: &crate::peers::kes::client::Response| {
        // Peer text: cut and escaped before any output.
        json(&resp.body).and_then(|v| v.get("version")?.as_str().map(crate::text::cut))
    };
    let mut answer = None;
    for path in ["/v1/status", "/version"] {
        if let Ok(resp) = client.get(endpoint, path).await
            && resp.status == 200
        {
            answer = Some((version_of(&resp), resp.content_type.clone()));
            break;
        }
    }
    let (version, content_type) = answer.unwrap_or_default();
    let generation = match api {
        // The probe learned nothing (a 504, a sealed store), but a
        // release name says which API the server speaks.
        Api::Unknown => version
            .as_deref()
            .and_then(generation::by_release)
            .map(|g| g.label().to_owned()),
        api => generation::detect(
            api == Api::Ready,
            version.as_deref(),
            content_type.as_deref(),
        )
        .map(|g| g.label().to_owned())
        .or(Some("2023-05+".to_owned())),
    };
    (version, generation)
}

async fn key_present(
    client: &KesClient,
    endpoint: &Endpoint,
    key: &crate::kes_types::keyname::KeyName,
) -> Option<bool> {
    match client
        .get(endpoint, &format!("/v1/key/describe/{key}"))
        .await
    {
        Ok(resp) if resp.status == 200 => Some(true),
        Ok(resp) if resp.status == 404 => Some(false),
        _ => None,
    }
}

fn env_file(r: &mut Report, settings: &Settings, unit: &crate::host::minio_unit::MinioUnit) {
    let check = match render::check(&settings.kes, &settings.env_file, unit, &settings.path) {
        Ok(c) => c,
        Err(render::RenderError::Read { source, path })
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            r.not_seen
                .push(format!("{} ({source}; run as root)", path.display()));
            return;
        }
        Err(e) => {
            r.problems.push(format!(
                "{}: {}",
                settings.env_file.path.display(),
                headline(&e)
            ));
            return;
        }
    };
    let path = &check.path;
    let read_by = match &check.layout {
        render::Layout::One => "systemd".to_owned(),
        render::Layout::Shared => "systemd and MinIO (MINIO_CONFIG_ENV_FILE names it)".to_owned(),
        render::Layout::Split(_) => format!(
            "MinIO (MINIO_CONFIG_ENV_FILE of {}, whose values it overrides)",
            settings.env_file.path.display()
        ),
    };
    let meta = std::fs::metadata(path).ok();
    let owner = meta.as_ref().map(|m| {
        let name = |uid: u32| {
            nix::unistd::User::from_uid(uid.into())
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |u| u.name)
        };
        let group = nix::unistd::Group::from_gid(m.gid().into())
            .ok()
            .flatten()
            .map_or_else(|| m.gid().to_string(), |g| g.name);
        format!("{}:{group}", name(m.uid()))
    });
    let mode = meta.as_ref().map(|m| format!("{:04o}", m.mode() & 0o7777));
    let status = EnvStatus {
        path: path.display().to_string(),
        read_by,
        exists: check.exists,
        owner,
        mode,
        matches: check.exists && check.drift.is_empty(),
        drift: check.drift,
        minio_problems: check.minio_problems,
    };
    let (state, sentence) = status.verdict();
    if state != "matches" {
        r.problems.push(sentence);
    }
    r.env_file = Some(status);
}

async fn buckets(r: &mut Report, settings: &Settings, unit: &crate::host::minio_unit::MinioUnit) {
    if settings.buckets.is_empty() {
        return;
    }
    let client = match credentials::resolve(
        &settings.minio,
        &settings.env_file.path,
        &unit.working_directory,
    ) {
        Ok((access, secret)) => S3Client::new(&settings.minio, access, secret)
            .await
            .map_err(|e| headline(&e)),
        Err(e) => Err(headline(&e)),
    };
    let s3 = match client {
        Ok(s3) => s3,
        Err(e) => {
            r.not_seen.push(format!("bucket encryption ({e})"));
            return;
        }
    };
    match s3.get_unsigned("/minio/health/cluster").await {
        Ok(200) => {}
        other => {
            let why = match other {
                Ok(status) => format!("HTTP {status}"),
                Err(e) => e,
            };
            r.not_seen.push(format!(
                "bucket encryption (MinIO {} is not healthy: {why})",
                s3.endpoint()
            ));
            return;
        }
    }
    let mut out = Vec::new();
    for bucket in &settings.buckets {
        let want = bucket.key.to_string();
        let (ok, encryption) = match current(&s3, &bucket.name).await {
            Ok(Some((alg, key))) => (
                alg == "aws:kms" && strip_arn(&key) == want,
                if key.is_empty() {
                    alg
                } else {
                    format!("{alg} with key {key}")
                },
            ),
            Ok(None) => (false, "none".to_owned()),
            Err(e) => (false, e),
        };
        if !ok {
            r.problems.push(format!(
                "bucket {}: {encryption}, not SSE-KMS with key {want}; fix: `kesgate buckets` sets it (or `systemctl restart kesgate-buckets`)",
                bucket.name
            ));
        }
        out.push(BucketStatus {
            name: bucket.name.clone(),
            key: want,
            ok,
            encryption,
        });
    }
    r.buckets = Some(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(fragment: &str, drop_ins: Vec<String>) -> UnitState {
        UnitState {
            name: "kesgate.service".into(),
            load_state: "loaded".into(),
            active_state: "active".into(),
            sub_state: "exited".into(),
            result: None,
            exit_status: None,
            restarts: None,
            since_usec: 0,
            status_text: None,
            drop_ins,
            fragment: fragment.into(),
            job_queued: false,
        }
    }

    #[test]
    fn a_kes_api_key_credential_in_a_drop_in_is_found() {
        let d = tempfile::tempdir().unwrap();
        let fragment = d.path().join("kesgate.service");
        std::fs::write(&fragment, "[Service]\nExecStart=/usr/bin/kesgate start\n").unwrap();
        let other = d.path().join("10-other.conf");
        std::fs::write(
            &other,
            "[Service]\nLoadCredential=minio-access-key:/etc/x\n",
        )
        .unwrap();
        let ours = d.path().join("20-key.conf");
        std::fs::write(
            &ours,
            "[Service]\nLoadCredentialEncrypted=kes-api-key:/etc/kesgate/kes-api-key.cred\n",
        )
        .unwrap();
        let f = fragment.display().to_string();
        assert_eq!(
            credential_directive(&unit(&f, vec![other.display().to_string()])),
            None
        );
        assert_eq!(
            credential_directive(&unit(
                &f,
                vec![other.display().to_string(), ours.display().to_string()]
            )),
            Some((
                ours.display().to_string(),
                "LoadCredentialEncrypted=".to_owned()
            ))
        );
    }
}
