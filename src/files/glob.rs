//! A path pattern as glob(3) expands it for systemd's `EnvironmentFile=`:
//! `*`, `?` and `[…]` in any component, a leading dot matched only by a
//! leading dot, matches sorted. A path without them is itself.

use std::path::{Path, PathBuf};

/// Every path `pattern` names, in glob(3)'s sorted order; the pattern
/// itself when it has no wildcard.
pub(crate) fn expand(pattern: &Path) -> Vec<PathBuf> {
    let text = pattern.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        return vec![pattern.to_owned()];
    }
    let mut found = vec![PathBuf::from(if text.starts_with('/') { "/" } else { "." })];
    for component in text.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for base in &found {
            if !component.contains(['*', '?', '[']) {
                let p = base.join(component);
                if p.symlink_metadata().is_ok() {
                    next.push(p);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(base) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| component.starts_with('.') || !n.starts_with('.'))
                .filter(|n| matches(component.as_bytes(), n.as_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        found = next;
    }
    found
}

/// fnmatch(3) without flags for one component.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            matches(&pattern[1..], name) || (!name.is_empty() && matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => matches(&pattern[1..], &name[1..]),
        (Some(b'['), Some(&c)) => match class(&pattern[1..], c) {
            Some((true, rest)) => matches(rest, &name[1..]),
            Some((false, _)) => false,
            // An unclosed `[` is a literal.
            None => c == b'[' && matches(&pattern[1..], &name[1..]),
        },
        (Some(b'\\'), Some(&c)) if pattern.len() > 1 => {
            pattern[1] == c && matches(&pattern[2..], &name[1..])
        }
        (Some(&p), Some(&c)) => p == c && matches(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// A bracket expression after its `[`: whether `c` is in it, and the rest
/// of the pattern; `None` when it is not closed.
fn class(p: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negate, mut i) = match p.first() {
        Some(b'!' | b'^') => (true, 1),
        _ => (false, 0),
    };
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((hit != negate, &p[i + 1..]));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            hit |= (p[i]..=p[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_match_as_fnmatch_does() {
        assert!(matches(b"*.env", b"a.env"));
        assert!(!matches(b"*.env", b"a.conf"));
        assert!(matches(b"minio-?.env", b"minio-1.env"));
        assert!(matches(b"[0-9]*", b"10-kes"));
        assert!(!matches(b"[!0-9]*", b"10-kes"));
        assert!(matches(b"a[", b"a["));
    }

    #[test]
    fn a_pattern_names_its_files_sorted_and_skips_dot_files() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.env", "a.env", ".hidden.env", "c.conf"] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let got = expand(&dir.path().join("*.env"));
        assert_eq!(got, [dir.path().join("a.env"), dir.path().join("b.env")]);
        let plain = dir.path().join("none.env");
        assert_eq!(expand(&plain), vec![plain]);
        assert!(expand(&dir.path().join("*.none")).is_empty());
    }
}
