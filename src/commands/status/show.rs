//! The human view: the verdict first, then one line per link, on one screen.

use std::fmt::Write as _;

use super::Report;
use super::layout::{width, wrap_at};

/// The report as text: the verdict, then each link's block in chain order,
/// then the problems (each once, with its fix), warnings and what could
/// not be seen.
pub(crate) fn human(r: &Report) -> String {
    let mut s = verdict(r);
    for link in super::links::LINKS {
        s.push_str(&link.text(r));
    }
    s.push_str(&lists(r));
    s
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

/// `--nagios`: one monitoring-plugins line with perfdata, and its state
/// (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
pub(super) fn nagios(r: &Report) -> (String, u8) {
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
    use super::item_at;
    use crate::commands::status::layout::wrap_at;

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
