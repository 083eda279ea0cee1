//! The human view: the verdict first, then one line per link, on one screen.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Report;
use crate::host::systemd::bus::UnitState;

/// The report as text: the verdict, then each link's block in chain order,
/// then the problems (each once, with its fix), warnings and what could
/// not be seen.
pub fn human(r: &Report) -> String {
    let blocks: [fn(&Report) -> String; 6] = [verdict, units, kes, vault, minio_side, lists];
    blocks.iter().map(|block| block(r)).collect()
}

fn verdict(r: &Report) -> String {
    let verdict = match (r.problems.len(), r.not_seen.is_empty()) {
        // Each problem is told once, below, with its fix.
        (1, _) => "NOT OK: 1 problem, below with its fix".to_owned(),
        (n @ 2.., _) => format!("NOT OK: {n} problems, below with their fixes"),
        (0, _) if !r.warnings.is_empty() => match r.warnings.len() {
            1 => "WARNING: 1 warning, below".to_owned(),
            n => format!("WARNING: {n} warnings, below"),
        },
        (0, true) => "OK: encryption at rest is healthy on this host".to_owned(),
        (0, false) => "UNKNOWN: nothing broken in what kesgate could see (see below)".to_owned(),
    };
    format!("kesgate status: {verdict}\nconfiguration: {}\n", r.config)
}

fn units(r: &Report) -> String {
    let Some(units) = &r.units else {
        return String::new();
    };
    let mut s = String::from("\nunits:\n");
    for u in units {
        for line in format!("  {}", unit_line(u)).lines() {
            let _ = writeln!(s, "{}", wrap(line, &" ".repeat(28)));
        }
    }
    s
}

fn kes(r: &Report) -> String {
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

/// One line per endpoint, its state in a few words: the whole sentence and
/// its fix are under "problems", once.
fn endpoint_line(e: &super::EndpointStatus) -> String {
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

fn vault(r: &Report) -> String {
    let Some(v) = &r.vault else {
        return String::new();
    };
    let version = v
        .version
        .as_deref()
        .map(|x| format!(" (version {x})"))
        .unwrap_or_default();
    let since = match v.state() {
        crate::peers::vault::VaultState::Ok => String::new(),
        _ => since(r, &format!("vault {}", v.address)),
    };
    format!(
        "\n{}\n",
        wrap(&format!("vault: {}{version}{since}", v.describe()), "  ")
    )
}

/// What MinIO reads: the fleet fingerprint of its MINIO_* set, the env
/// file, the keys and the buckets.
fn minio_side(r: &Report) -> String {
    let mut s = match (&r.fingerprint, &r.fingerprint_note) {
        (Some(f), _) => format!(
            "\n{}\n",
            wrap(
                &format!(
                    "fleet fingerprint: {f} (of the MINIO_* set MinIO compares: equal on all nodes)"
                ),
                "  "
            )
        ),
        (None, Some(note)) => format!("\n{}\n", wrap(&format!("fleet fingerprint: {note}"), "  ")),
        (None, None) => String::new(),
    };
    if let Some(env) = &r.env_file {
        let owner = match (&env.owner, &env.mode) {
            (Some(o), Some(m)) => format!(" ({o} {m})"),
            _ => String::new(),
        };
        let state = if !env.exists {
            format!("missing{}", since(r, &format!("env {}", env.path)))
        } else if env.matches && env.minio_problems.is_empty() {
            "matches the configuration; MinIO would accept it".to_owned()
        } else {
            format!(
                "needs attention (below){}",
                since(r, &format!("env {}", env.path))
            )
        };
        // Under the fingerprint: both are about what MinIO reads.
        let gap = if s.is_empty() { "\n" } else { "" };
        let _ = writeln!(s, "{gap}env file {}{owner}: {state}", env.path);
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
    s
}

fn lists(r: &Report) -> String {
    let mut s = String::new();
    for (title, items) in [
        ("problems", &r.problems),
        ("warnings", &r.warnings),
        ("not seen", &r.not_seen),
    ] {
        if !items.is_empty() {
            let _ = writeln!(s, "\n{title}:");
            for p in items {
                let _ = writeln!(s, "{}", item(p));
            }
        }
    }
    s
}

/// Since when condition `name` holds, where the watch's memory knows.
fn since(r: &Report, name: &str) -> String {
    super::since::phrase(&r.since, name, crate::text::unix_now())
}

/// The width text lines are wrapped to, unless `COLUMNS` says another
/// (40 at least).
const WIDTH: usize = 100;

fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(WIDTH)
}

/// An endpoint's state in a few words.
fn short(e: &super::EndpointStatus) -> String {
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

/// A problem, warning or note as a list item: its fix on a line of its
/// own, a block it announces indented under it, each line wrapped.
fn item(p: &str) -> String {
    item_at(p, width())
}

fn item_at(p: &str, width: usize) -> String {
    let (what, fix) = match p.split_once("; fix: ") {
        Some((what, fix)) => (what, Some(fix)),
        None => (p, None),
    };
    let mut lines = Vec::new();
    let mut rest = what.lines();
    if let Some(first) = rest.next() {
        lines.push(wrap_at(&format!("  - {first}"), "    ", width));
    }
    let mut fix_lines = fix.map(str::lines);
    if let Some(fix) = fix_lines.as_mut().and_then(Iterator::next) {
        lines.push(wrap_at(&format!("    fix: {fix}"), "      ", width));
    }
    // The block (a policy) follows its line, as it is: YAML keeps its indentation.
    for l in rest.chain(fix_lines.into_iter().flatten()) {
        lines.push(format!("    {l}"));
    }
    lines.join("\n")
}

/// `line` wrapped at [`width`] on spaces, later lines starting with
/// `indent`; a word longer than the width stays whole.
fn wrap(line: &str, indent: &str) -> String {
    wrap_at(line, indent, width())
}

fn wrap_at(line: &str, indent: &str, width: usize) -> String {
    let body = line.trim_start_matches(' ');
    let mut out = String::new();
    let mut current = line[..line.len() - body.len()].to_owned();
    let mut fresh = true;
    for word in body.split(' ') {
        if !fresh && current.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&current);
            out.push('\n');
            current = indent.to_owned();
            fresh = true;
        }
        if !fresh {
            current.push(' ');
        }
        current.push_str(word);
        fresh = false;
    }
    out.push_str(&current);
    out
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

#[cfg(test)]
mod tests {
    use super::{item_at, wrap_at};

    fn item(p: &str) -> String {
        item_at(p, 100)
    }

    #[test]
    fn a_problem_is_wrapped_with_its_fix_on_a_line_of_its_own() {
        let long = format!("{} end; fix: do {}", "word ".repeat(30), "this ".repeat(30));
        let shown = item(&long);
        let lines: Vec<&str> = shown.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 100), "{shown}");
        assert!(lines[0].starts_with("  - word"), "{shown}");
        assert!(
            lines.iter().any(|l| l.starts_with("    fix: do this")),
            "{shown}"
        );
        // Every word kept, in order.
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            words(&shown.replace("  - ", "").replace("fix: ", "")),
            words(&long.replace("; fix: ", " "))
        );
    }

    #[test]
    fn a_block_a_fix_announces_keeps_its_indentation() {
        let shown = item("refused; fix: add this policy:\npolicy:\n  minio:\n  - /v1/ready");
        assert_eq!(
            shown,
            "  - refused\n    fix: add this policy:\n    policy:\n      minio:\n      - /v1/ready"
        );
    }

    #[test]
    fn a_word_longer_than_the_width_stays_whole() {
        let word = "x".repeat(150);
        assert_eq!(
            wrap_at(&format!("  {word} y"), "    ", 100),
            format!("  {word}\n    y")
        );
    }
}
