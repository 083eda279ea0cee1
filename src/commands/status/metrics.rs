//! `status --prometheus`: the report in Prometheus' text format, as
//! node_exporter's textfile collector reads it. Booleans are 0/1 gauges,
//! Unix times `_timestamp_seconds`, strings in an `_info` gauge; no secret
//! and nothing derived from one in any label; label values escaped.

use std::fmt::Write as _;

use super::Report;
use super::links::{self, Metric};

/// The metrics of one status report, at `now` (Unix seconds): each link's
/// families in chain order, then the counts.
pub(crate) fn render(r: &Report, now: i64) -> String {
    let mut families = own(r, now);
    families.push(links::checked(r));
    for link in links::LINKS {
        families.extend(link.metrics(r));
    }
    families.extend(counts(r));
    text(&families)
}

/// kesgate itself: its version, when it looked, whether it could.
fn own(r: &Report, now: i64) -> Vec<Metric<'static>> {
    vec![
        Metric {
            name: "kesgate_build_info",
            help: "kesgate's version (value 1).",
            samples: vec![(vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1.0)],
        },
        Metric {
            name: "kesgate_last_check_timestamp_seconds",
            help: "When these values were measured (Unix time).",
            samples: vec![(vec![], now as f64)],
        },
        Metric {
            name: "kesgate_checked",
            help: "1 when kesgate's checks ran (its configuration loaded), 0 when nothing could be checked on this host: every other series is then absent, not healthy.",
            samples: vec![(vec![], f64::from(u8::from(r.checked)))],
        },
    ]
}

fn counts(r: &Report) -> Vec<Metric<'static>> {
    vec![
        Metric {
            name: "kesgate_problems",
            help: "How many broken links `kesgate status` reports (0 when healthy; it exits 1 when not 0).",
            samples: vec![(vec![], r.problems.len() as f64)],
        },
        Metric {
            name: "kesgate_warnings",
            help: "How many warnings `kesgate status` reports (a certificate expiring within [watch] warn_before, a host-local MINIO_* value).",
            samples: vec![(vec![], r.warnings.len() as f64)],
        },
    ]
}

/// The families in the text format (a family without samples is left out).
fn text(families: &[Metric<'_>]) -> String {
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
