//! Each KES endpoint as MinIO meets it: ready for MinIO's identity, its key
//! store answering now, MinIO's start-up round trip, the version and API.

use std::fmt::Write as _;

use super::{Family, Link, Metric, Moment, Observed, Report};
use crate::commands::status::EndpointStatus;
use crate::commands::status::layout::{since, wrap};

/// The subject of the KES client's own condition (not an endpoint).
const CLIENT: &str = "(client)";

pub(super) struct Kes;

impl Link for Kes {
    fn name(&self) -> &'static str {
        "kes"
    }

    /// Without its KES client (trust, client certificate) kesgate asks no
    /// endpoint at all.
    fn checked(&self, r: &Report) -> Option<bool> {
        Some(r.kes_client_error.is_none() && !r.kes.is_empty())
    }

    fn text(&self, r: &Report) -> String {
        if r.kes.is_empty() {
            return String::new();
        }
        let id = r.identity.as_deref().unwrap_or("from cert_file");
        let mut s = format!("\nKES (identity {id}):\n");
        if let Some(trust) = &r.trust {
            let _ = writeln!(s, "  trusting {trust}, as MinIO does");
        }
        for e in &r.kes {
            let mut line = endpoint_line(e);
            if !e.ready {
                line.push_str(&since(r, &format!("kes {}", e.endpoint)));
            }
            let _ = writeln!(s, "{}", wrap(&line, "      "));
        }
        s
    }

    fn metrics<'a>(&self, r: &'a Report) -> Vec<Metric<'a>> {
        let ep = |e: &EndpointStatus| vec![("endpoint", e.endpoint.clone())];
        vec![
            Metric {
                name: "kesgate_kes_ready",
                help: "1 when the KES endpoint is ready for MinIO's identity (reachable, trusted as MinIO trusts it, authorised, its key store answering).",
                samples: r
                    .kes
                    .iter()
                    .map(|e| (ep(e), f64::from(u8::from(e.ready))))
                    .collect(),
            },
            Metric {
                name: "kesgate_kes_key_store_ready",
                help: "1 when the endpoint's key store answered just now (the fresh probe: a describe of an absent key), 0 when it did not or could not be asked.",
                samples: r
                    .kes
                    .iter()
                    .map(|e| (ep(e), f64::from(u8::from(e.ready && e.unproven.is_none()))))
                    .collect(),
            },
            Metric {
                name: "kesgate_kes_round_trip_seconds",
                help: "How long MinIO's start-up round trip (generate, decrypt) with the default key took.",
                samples: r
                    .kes
                    .iter()
                    .filter_map(|e| e.round_trip_ms.map(|ms| (ep(e), ms / 1000.0)))
                    .collect(),
            },
        ]
    }

    /// kesgate's own KES client, then each endpoint.
    fn observe(&self, r: &Report, _: &Moment, out: &mut Vec<Observed>) {
        out.push(match &r.kes_client_error {
            Some(e) => Observed {
                family: Family::Kes,
                subject: CLIENT.into(),
                state: "client_setup".into(),
                bad: true,
                sentence: e.clone(),
            },
            None => Observed {
                family: Family::Kes,
                subject: CLIENT.into(),
                state: "ok".into(),
                bad: false,
                sentence: "kesgate's KES client can be set up again".into(),
            },
        });
        for e in &r.kes {
            let (state, bad, sentence) = match e.round_trip_problem() {
                Some(problem) if e.ready => ("round_trip".to_owned(), true, problem),
                _ if e.ready => (
                    e.condition.clone(),
                    false,
                    format!("KES {} is {}", e.endpoint, e.state),
                ),
                _ => (e.condition.clone(), true, e.sentence()),
            };
            out.push(Observed {
                family: Family::Kes,
                subject: e.endpoint.clone(),
                state,
                bad,
                sentence,
            });
        }
    }
}

/// One line per endpoint, its state in a few words: the whole sentence and
/// its fix are under "problems", once.
fn endpoint_line(e: &EndpointStatus) -> String {
    let mut line = format!("  {}  {} in {} ms", e.endpoint, short(e), e.latency_ms);
    if let Some(v) = &e.version {
        let _ = write!(line, ", version {v}");
    }
    if let Some(api) = &e.api {
        let _ = write!(line, ", API {api}");
    }
    if let Some(rt) = &e.round_trip {
        let _ = write!(line, ", round trip {rt}");
    }
    if let (Some(at), Some(days)) = (e.earliest_expiry, e.days_left) {
        let date = crate::text::unix_time(at);
        let days = match days {
            1 => "1 day".to_owned(),
            n => format!("{n} days"),
        };
        let _ = write!(line, ", certificates valid until {date} ({days})");
    }
    line
}

/// An endpoint's state in a few words.
fn short(e: &EndpointStatus) -> String {
    if e.ready {
        return e.state.lines().next().unwrap_or_default().to_owned();
    }
    match e.condition.as_str() {
        "forbidden" => "refused kesgate's identity (403)".to_owned(),
        "untrusted" => "certificate not trusted".to_owned(),
        "client_certificate_rejected" => "client certificate rejected".to_owned(),
        "not_kes" => "does not answer like KES".to_owned(),
        "no_answer" => "no complete answer in time".to_owned(),
        c => crate::stages::wait::probe::Kind::from_name(c)
            .map_or_else(|| c.replace('_', " "), |k| k.describe().to_owned()),
    }
}
