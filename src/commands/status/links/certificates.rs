//! The certificates on MinIO's way to KES (and kesgate's to the Vault):
//! each one's end, one condition per certificate in its worst state.

use std::collections::BTreeMap;

use super::{Family, Link, Metric, Moment, Observed, Report};
use crate::net::tls::{Expiry, SeenCert};

pub(super) struct Certificates;

impl Link for Certificates {
    fn name(&self) -> &'static str {
        "certificates"
    }

    /// Seen when every endpoint presented its chain: one that did not
    /// (unreachable, not TLS) has certificates kesgate could not look at.
    fn checked(&self, r: &Report) -> Option<bool> {
        Some(!r.kes.is_empty() && r.kes.iter().all(|e| !e.certificates.is_empty()))
    }

    fn metrics<'a>(&self, r: &'a Report) -> Vec<Metric<'a>> {
        vec![Metric {
            name: "kesgate_certificate_not_after_timestamp_seconds",
            help: "NotAfter of each certificate in MinIO's path to KES (role: server, ca, client; vault: the Vault's chain, endpoint its address).",
            samples: seen(r)
                .flat_map(|(endpoint, _, certs)| {
                    certs.iter().map(move |c| {
                        (
                            vec![
                                ("endpoint", endpoint.to_owned()),
                                ("role", c.role.to_owned()),
                                ("subject", c.subject.clone()),
                            ],
                            c.not_after as f64,
                        )
                    })
                })
                .collect(),
        }]
    }

    /// One condition per certificate (role and subject; the same CA seen
    /// through every endpoint is one), in its worst state.
    fn observe(&self, r: &Report, at: &Moment, out: &mut Vec<Observed>) {
        let mut worst: BTreeMap<(&'static str, String), (SeenCert, String)> = BTreeMap::new();
        for (address, who, certs) in seen(r) {
            for c in certs {
                let key = (c.role, c.subject.clone());
                match worst.get(&key) {
                    Some((w, _)) if w.not_after <= c.not_after => {}
                    _ => {
                        worst.insert(key, (c.clone(), format!("{who} {address}")));
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
            let (state, sentence) = match c.expiry(at.now, at.warn) {
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
}

/// Every certificate chain seen: (address, "KES" or "Vault", chain).
fn seen(r: &Report) -> impl Iterator<Item = (&str, &'static str, &Vec<SeenCert>)> {
    r.kes
        .iter()
        .map(|e| (e.endpoint.as_str(), "KES", &e.certificates))
        .chain(
            r.vault
                .iter()
                .map(|v| (v.address.as_str(), "Vault", &r.vault_certificates)),
        )
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
        let mut seen = Vec::new();
        let at = Moment {
            now: 0,
            warn: std::time::Duration::from_secs(30 * day as u64),
        };
        Certificates.observe(&r, &at, &mut seen);
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
