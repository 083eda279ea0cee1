//! The human view: the verdict first, then one line per link, on one screen.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Report;
use crate::host::systemd::bus::UnitState;

pub fn human(r: &Report) -> String {
    let mut s = String::new();
    let verdict = match (r.problems.first(), r.not_seen.is_empty()) {
        (Some(first), _) => {
            let more = match r.problems.len() {
                1 => String::new(),
                n => format!(" (+{} more below)", n - 1),
            };
            // The verdict is one line; the block a fix announces follows
            // under "problems".
            let first = first.lines().next().unwrap_or_default();
            format!("NOT OK: {first}{more}")
        }
        (None, _) if !r.warnings.is_empty() => {
            let more = match r.warnings.len() {
                1 => String::new(),
                n => format!(" (+{} more below)", n - 1),
            };
            format!("WARNING: {}{more}", r.warnings[0])
        }
        (None, true) => "OK: encryption at rest is healthy on this host".to_owned(),
        (None, false) => "UNKNOWN: nothing broken in what kesgate could see (see below)".to_owned(),
    };
    let _ = writeln!(s, "kesgate status: {verdict}");
    let _ = writeln!(s, "configuration: {}", r.config);
    if let Some(units) = &r.units {
        let _ = writeln!(s, "\nunits:");
        for u in units {
            let _ = writeln!(s, "  {}", unit_line(u));
        }
    }
    if !r.kes.is_empty() {
        let id = r.identity.as_deref().unwrap_or("from cert_file");
        let _ = writeln!(s, "\nKES (identity {id}):");
        if let Some(trust) = &r.trust {
            let _ = writeln!(s, "  trusting {trust}, as MinIO does");
        }
        for e in &r.kes {
            // One line per endpoint: a block its fix announces is under
            // "problems".
            let state = e.state.lines().next().unwrap_or_default();
            let mut line = format!("  {}  {state} in {} ms", e.endpoint, e.latency_ms);
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
                let _ = write!(line, ", certificates valid until {date} ({days} days)");
            }
            let _ = writeln!(s, "{line}");
        }
    }
    if let Some(v) = &r.vault {
        let version = v
            .version
            .as_deref()
            .map(|x| format!(" (version {x})"))
            .unwrap_or_default();
        let _ = writeln!(s, "\nvault: {}{version}", v.describe());
    }
    match (&r.fingerprint, &r.fingerprint_note) {
        (Some(f), _) => {
            let _ = writeln!(
                s,
                "\nfleet fingerprint: {f} (MinIO's compared MINIO_* set; the same on every node of a cluster)"
            );
        }
        (None, Some(note)) => {
            let _ = writeln!(s, "\nfleet fingerprint: {note}");
        }
        (None, None) => {}
    }
    if let Some(env) = &r.env_file {
        let owner = match (&env.owner, &env.mode) {
            (Some(o), Some(m)) => format!(" ({o} {m})"),
            _ => String::new(),
        };
        let state = if !env.exists {
            "missing".to_owned()
        } else if env.matches && env.minio_problems.is_empty() {
            "matches the configuration; MinIO would accept it".to_owned()
        } else {
            "needs attention (below)".to_owned()
        };
        let _ = writeln!(s, "\nenv file {}{owner}: {state}", env.path);
    }
    if !r.keys.is_empty() {
        let keys: Vec<String> = r
            .keys
            .iter()
            .map(|k| {
                let state = match k.present {
                    Some(true) => "present",
                    Some(false) => "MISSING",
                    None => "unknown",
                };
                format!("{} {state}", k.name)
            })
            .collect();
        let _ = writeln!(s, "keys: {}", keys.join(", "));
    }
    if let Some(buckets) = &r.buckets {
        let list: Vec<String> = buckets
            .iter()
            .map(|b| {
                let mark = if b.ok { "ok" } else { "WRONG" };
                format!("{} {} ({mark})", b.name, b.encryption)
            })
            .collect();
        let _ = writeln!(s, "buckets: {}", list.join(", "));
    }
    for (title, items) in [
        ("problems", &r.problems),
        ("warnings", &r.warnings),
        ("not seen", &r.not_seen),
    ] {
        if !items.is_empty() {
            let _ = writeln!(s, "\n{title}:");
            for p in items {
                let _ = writeln!(s, "  - {}", p.replace('\n', "\n    "));
            }
        }
    }
    s
}

fn unit_line(u: &UnitState) -> String {
    if !u.exists() {
        return format!("{:24} not installed", u.name);
    }
    let mut line = format!(
        "{:24} {:22}",
        u.name,
        format!("{} ({})", u.active_state, u.sub_state)
    );
    if u.since_usec > 0 {
        let at = UNIX_EPOCH + Duration::from_micros(u.since_usec);
        let ago = SystemTime::now().duration_since(at).unwrap_or_default();
        let ago = Duration::from_secs(ago.as_secs());
        let _ = write!(
            line,
            " since {} ({} ago)",
            humantime::format_rfc3339_seconds(at),
            humantime::format_duration(ago)
        );
    }
    if let Some(result) = u.result.as_deref().filter(|r| *r != "success") {
        let _ = write!(line, ", result {result}");
    }
    if u.restarts.is_some_and(|n| n > 0) {
        let _ = write!(line, ", {} restarts", u.restarts.unwrap_or(0));
    }
    if u.name == "minio.service" {
        let drop_in = u
            .drop_ins
            .iter()
            .any(|d| d.ends_with("minio.service.d/kesgate.conf"));
        line.push_str(if drop_in {
            ", kesgate drop-in in effect"
        } else {
            ", NO kesgate drop-in"
        });
    }
    if let Some(text) = &u.status_text {
        let _ = write!(line, "\n  {:24} \"{text}\"", "");
    }
    line
}

/// `--nagios`: one monitoring-plugins line with perfdata, and its state
/// (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
pub fn nagios(r: &Report) -> (String, u8) {
    let (state, code, why) = if let Some(p) = r.problems.first() {
        ("CRITICAL", 2, p.clone())
    } else if let Some(w) = r.warnings.first() {
        ("WARNING", 1, w.clone())
    } else if let Some(n) = r.not_seen.first() {
        ("UNKNOWN", 3, format!("not seen: {n}"))
    } else {
        (
            "OK",
            0,
            "encryption at rest is healthy on this host".to_owned(),
        )
    };
    // Perfdata must not hold '|' or newlines (the plugin format): a block
    // (the KES policy) is folded onto the line, its indentation with it.
    let why = why
        .replace('|', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let ready = r.kes.iter().filter(|e| e.ready).count();
    let mut perf = format!("kes_ready={ready};;;0;{}", r.kes.len());
    if let Some(days) = r.kes.iter().filter_map(|e| e.days_left).min() {
        let _ = write!(perf, " cert_days_left={days};{};0", r.warn_before_days);
    }
    (format!("KESGATE {state} - {why} | {perf}"), code)
}
