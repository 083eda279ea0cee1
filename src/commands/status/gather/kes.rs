//! Each KES endpoint as MinIO reaches it: readiness, version, API
//! generation, MinIO's round trip, the certificates on the way, the keys.

use super::*;

pub(super) async fn kes(
    r: &mut Report,
    settings: &Settings,
    unit: &crate::host::minio_unit::MinioUnit,
) {
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
    let statuses = endpoints(&connection, settings).await;
    let client_cert = client_certificate(settings);
    let mut told = std::collections::BTreeSet::new();
    let mut ready_endpoint = None;
    for (endpoint, mut status) in settings.kes.endpoints.iter().zip(statuses) {
        status.certificates = connection
            .pool
            .seen(&endpoint.server_name())
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
    keys(r, settings, &connection.client, ready_endpoint.as_ref()).await;
}

/// Every endpoint at once (a few at a time), each bounded by one request's
/// timeout: `status` answers in seconds however many are down.
async fn endpoints(
    connection: &crate::peers::kes::connection::KesConnection,
    settings: &Settings,
) -> Vec<EndpointStatus> {
    use futures_util::StreamExt as _;
    let (client, trust) = (&connection.client, connection.trust.as_str());
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
    .await
}

/// Each configured key, asked on the first ready endpoint. The default
/// key's presence is what the round trip there proved: one describe less
/// per round.
async fn keys(r: &mut Report, settings: &Settings, client: &KesClient, ready: Option<&Endpoint>) {
    let proven = ready.and_then(|ep| {
        r.kes
            .iter()
            .find(|e| e.endpoint == ep.to_string())
            .and_then(|e| e.default_key_present)
    });
    for key in &settings.keys {
        let present = match (ready, proven) {
            (Some(_), Some(p)) if *key == settings.kes.default_key => Some(p),
            (Some(ep), _) => key_present(client, ep, key).await,
            (None, _) => None,
        };
        match present {
            Some(false) => r.problems.push(format!("key {key} is missing on KES")),
            None if ready.is_some() => {
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
