//! A round's report reduced to named conditions (crate::commands::watch
//! ::conditions compares them with what the journal was told): a stable
//! state name and the operator's sentence per KES endpoint, the Vault,
//! each key, each certificate, the env file, the fleet fingerprint and the
//! configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use super::conditions::{Family, Observed};
use crate::commands::status::Report;
use crate::net::tls::{Expiry, SeenCert};

/// The subject of the KES client's own condition (not an endpoint).
const CLIENT: &str = "(client)";

/// The conditions of `report`, link by link in chain order. `config`:
/// `Err(sentence)` when the configuration did not load (then nothing else
/// is observed).
pub fn observe(
    report: &Report,
    config: Result<(), String>,
    warn: Duration,
    now: i64,
) -> Vec<Observed> {
    let config_ok = config.is_ok();
    let mut out = vec![configuration(report, config)];
    if !config_ok {
        return out;
    }
    vault(report, &mut out);
    kes(report, &mut out);
    keys(report, &mut out);
    certificates(report, warn, now, &mut out);
    minio_side(report, &mut out);
    out
}

fn configuration(report: &Report, config: Result<(), String>) -> Observed {
    match config {
        Ok(()) => Observed {
            family: Family::Config,
            subject: report.config.clone(),
            state: "valid".into(),
            bad: false,
            sentence: format!("{} loads again", report.config),
        },
        Err(sentence) => Observed {
            family: Family::Config,
            subject: report.config.clone(),
            state: "invalid".into(),
            bad: true,
            sentence,
        },
    }
}

fn vault(report: &Report, out: &mut Vec<Observed>) {
    if let Some(v) = &report.vault {
        let state = v.state();
        out.push(Observed {
            family: Family::Vault,
            subject: v.address.clone(),
            state: state.as_str().into(),
            bad: state != crate::peers::vault::VaultState::Ok,
            sentence: v.describe(),
        });
    }
}

/// kesgate's own KES client, then each endpoint.
fn kes(report: &Report, out: &mut Vec<Observed>) {
    // kesgate's own KES client (trust, client certificate): when it cannot
    // be set up, no endpoint is asked at all.
    out.push(match &report.kes_client_error {
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
    for e in &report.kes {
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

fn keys(report: &Report, out: &mut Vec<Observed>) {
    for k in &report.keys {
        let Some(present) = k.present else { continue };
        out.push(Observed {
            family: Family::Key,
            subject: k.name.clone(),
            state: if present { "present" } else { "missing" }.into(),
            bad: !present,
            sentence: if present {
                format!("key {} exists on KES", k.name)
            } else {
                format!(
                    "key {} is missing on KES; fix: restore it from a backup of KES's key store — a new key of that name cannot decrypt what the old one encrypted",
                    k.name
                )
            },
        });
    }
}

/// What MinIO reads: its env file, the fleet fingerprint of its MINIO_* set.
fn minio_side(report: &Report, out: &mut Vec<Observed>) {
    if let Some(env) = &report.env_file {
        let (state, sentence) = env.verdict();
        out.push(Observed {
            family: Family::Env,
            subject: env.path.clone(),
            state: state.into(),
            bad: state != "matches",
            sentence,
        });
    }
    if let Some(f) = &report.fingerprint {
        out.push(Observed {
            family: Family::Fingerprint,
            subject: String::new(),
            state: f.clone(),
            bad: false,
            sentence: format!(
                "the fleet fingerprint of MinIO's MINIO_* set is now {f}: every node of the cluster must show the same (kesgate_minio_env_info), or MinIO refuses the odd one at its next start"
            ),
        });
    }
}

/// One condition per certificate (role and subject; the same CA seen
/// through every endpoint is one), in its worst state.
fn certificates(report: &Report, warn: Duration, now: i64, out: &mut Vec<Observed>) {
    let seen = report
        .kes
        .iter()
        .map(|e| (format!("KES {}", e.endpoint), &e.certificates))
        .chain(
            report
                .vault
                .iter()
                .map(|v| (format!("Vault {}", v.address), &report.vault_certificates)),
        );
    let mut worst: BTreeMap<(&'static str, String), (SeenCert, String)> = BTreeMap::new();
    for (who, certs) in seen {
        for c in certs.iter() {
            let key = (c.role, c.subject.clone());
            match worst.get(&key) {
                Some((w, _)) if w.not_after <= c.not_after => {}
                _ => {
                    worst.insert(key, (c.clone(), who.clone()));
                }
            }
        }
    }
    for ((role, subject), (c, who)) in worst {
        let what = format!(
            "the {role} certificate \"{}\" ({who})",
            crate::text::cut(&subject)
        );
        let date = crate::text::unix_time(c.not_after);
        let (state, sentence) = match c.expiry(now, warn) {
            Expiry::Fine => ("fine", format!("{what} is valid until {date}")),
            Expiry::Soon { days } => (
                "soon",
                format!("{what} expires in {days} days ({date}); fix: renew it before then"),
            ),
            Expiry::Expired => (
                "expired",
                format!(
                    "{what} expired at {date}; fix: renew it now: MinIO's KMS calls fail with it"
                ),
            ),
        };
        out.push(Observed {
            family: Family::Certificate,
            subject: format!("{role} {subject}"),
            state: state.into(),
            bad: state != "fine",
            sentence,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_one_condition_each_in_their_worst_state() {
        use crate::commands::status::{EndpointStatus, Report};
        let cert = |role, not_after| SeenCert {
            role,
            subject: "CN=kes".into(),
            not_after,
        };
        let endpoint = |name: &str, certs| EndpointStatus {
            endpoint: name.into(),
            ready: true,
            condition: "ready".into(),
            state: "ready (/v1/ready)".into(),
            latency_ms: 1,
            round_trip_ms: Some(1.0),
            default_key_present: Some(true),
            version: None,
            api: None,
            round_trip: Some("ok".into()),
            unproven: None,
            certificates: certs,
            earliest_expiry: None,
            days_left: None,
        };
        let day = 86_400;
        let mut r = Report::empty("/etc/kesgate/kesgate.toml");
        r.kes = vec![
            endpoint(
                "https://a",
                vec![cert("server", 100 * day), cert("ca", 400 * day)],
            ),
            endpoint(
                "https://b",
                vec![cert("server", 10 * day), cert("ca", 400 * day)],
            ),
        ];
        let seen = observe(&r, Ok(()), Duration::from_secs(30 * day as u64), 0);
        let certs: Vec<(&str, &str)> = seen
            .iter()
            .filter(|o| o.family == Family::Certificate)
            .map(|o| (o.subject.as_str(), o.state.as_str()))
            .collect();
        assert_eq!(certs, [("ca CN=kes", "fine"), ("server CN=kes", "soon")]);
        let soon = seen.iter().find(|o| o.state == "soon").unwrap();
        assert!(
            soon.sentence.contains("(KES https://b)") && soon.sentence.contains("in 10 days"),
            "{}",
            soon.sentence
        );
    }
}
