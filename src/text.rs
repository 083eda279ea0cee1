//! Text as an operator reads it. Text that came from elsewhere (a peer:
//! KES, MinIO, Vault; another process's command line) is cut to a few
//! hundred characters, with control characters escaped, before it reaches
//! a terminal, STATUS= or the journal. And the shapes of kesgate's own
//! messages: the headline, the headline with its fix, a duration.

/// How much of a peer's text is shown.
pub(crate) const MAX_CHARS: usize = 300;

pub(crate) fn cut(text: &str) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A duration as an operator reads it: to the millisecond below a minute,
/// to the second above (never "10s 24ms 33us 497ns").
pub(crate) fn duration(d: std::time::Duration) -> String {
    let d = if d >= std::time::Duration::from_secs(60) {
        std::time::Duration::from_secs(d.as_secs())
    } else {
        std::time::Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(d).to_string()
}

/// Now, in Unix seconds (0 for a clock before 1970).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A Unix time (seconds) as RFC 3339, UTC: `2026-12-13T05:20:53Z`.
pub(crate) fn unix_time(secs: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64),
    )
    .to_string()
}

/// An error's first line: what went wrong, without the `fix:` and the
/// detail lines kesgate's messages carry below it (for STATUS= and lists).
pub(crate) fn headline(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

/// The first line and the fix of an error: what `status` shows for a
/// link, in the words the failing command prints. A fix that announces a
/// block (it ends with `:`, e.g. the KES policy to add) keeps it, on the
/// lines after, as the command prints it.
pub(crate) fn headline_and_fix(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default().to_owned();
    let Some(fix) = lines.find_map(|l| l.trim_start().strip_prefix("fix: ")) else {
        return first;
    };
    let mut out = format!("{first}; fix: {fix}");
    if fix.ends_with(':') {
        for line in lines {
            out.push('\n');
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_that_announces_a_block_keeps_it() {
        let e = "KES x refused identity y\n  fix: add this policy and restart KES:\npolicy:\n  minio:\n    allow:";
        assert_eq!(
            headline_and_fix(&e),
            "KES x refused identity y; fix: add this policy and restart KES:\npolicy:\n  minio:\n    allow:"
        );
        assert_eq!(headline_and_fix(&"a\n  fix: b\nc"), "a; fix: b");
    }

    #[test]
    fn long_text_is_cut_and_control_characters_escaped() {
        assert_eq!(cut("a\x1b[31mb\nc"), "a\\u{1b}[31mb\\nc");
        let long = "x".repeat(1000);
        assert_eq!(cut(&long).chars().count(), MAX_CHARS + 1);
    }
}
