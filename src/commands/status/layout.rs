//! How `status`'s text is laid out: lines wrapped to the terminal's
//! width, and since when a condition holds.

use super::Report;

/// Since when condition `name` holds, where the watch's memory knows.
pub(super) fn since(r: &Report, name: &str) -> String {
    super::since::phrase(&r.since, name, crate::text::unix_now())
}

/// The width text lines are wrapped to, unless `COLUMNS` says another
/// (40 at least).
const WIDTH: usize = 100;

pub(super) fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(WIDTH)
}

/// `line` wrapped at [`width`] on spaces, later lines starting with
/// `indent`; a word longer than the width stays whole.
pub(super) fn wrap(line: &str, indent: &str) -> String {
    wrap_at(line, indent, width())
}

pub(super) fn wrap_at(line: &str, indent: &str, width: usize) -> String {
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
