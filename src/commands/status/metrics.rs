//! `status --prometheus`: the report in Prometheus' text format, as
//! node_exporter's textfile collector reads it. Booleans are 0/1 gauges,
//! Unix times `_timestamp_seconds`, strings in an `_info` gauge; no secret
//! and nothing derived from one in any label; label values escaped.

use std::fmt::Write as _;

use super::Report;

/// One metric family: its HELP, its TYPE (always gauge here) and samples.
struct Family<'a> {
    name: &'a str,
    help: &'a str,
    samples: Vec<(Vec<(&'a str, String)>, f64)>,
}

/// The metrics of one status report, at `now` (Unix seconds): each link's
/// families in chain order, then the counts.
pub fn render(r: &Report, now: i64) -> String {
    let mut families = own(r, now);
    families.extend(kes(r));
    families.extend(vault(r));
    families.extend(minio_side(r));
    families.extend(counts(r));
    text(&families)
}

/// kesgate itself: its version, when it looked, whether it could.
fn own(r: &Report, now: i64) -> Vec<Family<'static>> {
    vec![
        Family {
            name: "kesgate_build_info",
            help: "kesgate's version (value 1).",
            samples: vec![(vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1.0)],
        },
        Family {
            name: "kesgate_last_check_timestamp_seconds",
            help: "When these values were measured (Unix time).",
            samples: vec![(vec![], now as f64)],
        },
        Family {
            name: "kesgate_checked",
            help: "1 when kesgate's checks ran (its configuration loaded), 0 when nothing could be checked on this host: every other series is then absent, not healthy.",
            samples: vec![(vec![], f64::from(u8::from(r.checked)))],
        },
    ]
}

/// Each KES endpoint: ready, its key store, MinIO's round trip, the
/// certificates on MinIO's way to it (and to the Vault).
fn kes(r: &Report) -> Vec<Family<'_>> {
    let mut families = Vec::new();
    let ep = |e: &super::EndpointStatus| vec![("endpoint", e.endpoint.clone())];
    families.push(Family {
        name: "kesgate_kes_ready",
        help: "1 when the KES endpoint is ready for MinIO's identity (reachable, trusted as MinIO trusts it, authorised, its key store answering).",
        samples: r.kes.iter().map(|e| (ep(e), f64::from(u8::from(e.ready)))).collect(),
    });
    families.push(Family {
        name: "kesgate_kes_key_store_ready",
        help: "1 when the endpoint's key store answered just now (the fresh probe: a describe of an absent key), 0 when it did not or could not be asked.",
        samples: r
            .kes
            .iter()
            .map(|e| (ep(e), f64::from(u8::from(e.ready && e.unproven.is_none()))))
            .collect(),
    });
    families.push(Family {
        name: "kesgate_kes_round_trip_seconds",
        help: "How long MinIO's start-up round trip (generate, decrypt) with the default key took.",
        samples: r
            .kes
            .iter()
            .filter_map(|e| e.round_trip_ms.map(|ms| (ep(e), ms / 1000.0)))
            .collect(),
    });
    families.push(Family {
        name: "kesgate_certificate_not_after_timestamp_seconds",
        help: "NotAfter of each certificate in MinIO's path to KES (role: server, ca, client; vault: the Vault's chain, endpoint its address).",
        samples: r
            .kes
            .iter()
            .map(|e| (e.endpoint.as_str(), &e.certificates))
            .chain(r.vault.iter().map(|v| (v.address.as_str(), &r.vault_certificates)))
            .flat_map(|(endpoint, certs)| {
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
    });
    families
}

fn vault(r: &Report) -> Vec<Family<'_>> {
    let mut families = Vec::new();
    if let Some(v) = &r.vault {
        families.push(Family {
            name: "kesgate_vault_sealed",
            help: "1 when the Vault behind KES is sealed (or not initialised), 0 when unsealed.",
            samples: v
                .sealed
                .map(|sealed| {
                    (
                        vec![("address", v.address.clone())],
                        f64::from(u8::from(sealed)),
                    )
                })
                .into_iter()
                .collect(),
        });
    }
    families
}

/// What MinIO reads: the env file, the fleet fingerprint, the keys.
fn minio_side(r: &Report) -> Vec<Family<'_>> {
    let mut families = Vec::new();
    if let Some(env) = &r.env_file {
        families.push(Family {
            name: "kesgate_env_matches",
            help: "1 when MinIO's environment holds the configured KES variables and MinIO would accept them.",
            samples: vec![(
                vec![],
                f64::from(u8::from(env.matches && env.minio_problems.is_empty())),
            )],
        });
    }
    if let Some(f) = &r.fingerprint {
        families.push(Family {
            name: "kesgate_minio_env_info",
            help: "The fleet fingerprint of MinIO's compared MINIO_* set (a keyed MAC; value 1): one value across a cluster's nodes.",
            samples: vec![(vec![("fingerprint", f.clone())], 1.0)],
        });
    }
    // Not claimed when nothing was checked ("0 missing" would be a check
    // that did not run).
    if r.checked {
        families.push(Family {
            name: "kesgate_keys_missing",
            help: "How many configured keys KES does not have (unknown ones not counted).",
            samples: vec![(
                vec![],
                r.keys.iter().filter(|k| k.present == Some(false)).count() as f64,
            )],
        });
    }
    families
}

fn counts(r: &Report) -> Vec<Family<'static>> {
    vec![
        Family {
            name: "kesgate_problems",
            help: "How many broken links `kesgate status` reports (0 when healthy; it exits 1 when not 0).",
            samples: vec![(vec![], r.problems.len() as f64)],
        },
        Family {
            name: "kesgate_warnings",
            help: "How many warnings `kesgate status` reports (a certificate expiring within [watch] warn_before, a host-local MINIO_* value).",
            samples: vec![(vec![], r.warnings.len() as f64)],
        },
    ]
}

/// The families in the text format (a family without samples is left out).
fn text(families: &[Family<'_>]) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} gauge", f.name);
        for (labels, value) in &f.samples {
            let _ = write!(out, "{}", f.name);
            if !labels.is_empty() {
                let inner: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                let _ = write!(out, "{{{}}}", inner.join(","));
            }
            let _ = writeln!(out, " {value}");
        }
    }
    out
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped;
/// other control characters (an ESC in a certificate subject) shown as
/// their escape, as every other output of kesgate shows them.
fn escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                for e in c.escape_default() {
                    if e == '\\' {
                        out.push_str("\\\\");
                    } else {
                        out.push(e);
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        // An ESC never reaches a label raw.
        assert_eq!(escape("CN=\u{1b}[31mkes"), "CN=\\\\u{1b}[31mkes");
    }
}
