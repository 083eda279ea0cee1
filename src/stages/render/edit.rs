//! The pure part of rendering: old file bytes + desired variables → new
//! bytes. Every byte outside kesgate's own assignments is kept.

pub(crate) use crate::files::envfile::effective;
use crate::files::envfile::{Dialect, EnvFileError};

/// The comment that heads the variables kesgate appends (for the default
/// configuration file; [`marker`] names another).
pub(crate) const MARKER: &str = "# Managed by kesgate (/etc/kesgate/kesgate.toml): edits to the variables below are overwritten.\n";

/// How every marker begins, whichever configuration it names.
pub(crate) const MARKER_START: &str = "# Managed by kesgate (";

/// The marker naming the configuration file in charge.
pub(crate) fn marker(config: &std::path::Path) -> String {
    let shown =
        String::from_utf8_lossy(config.as_os_str().as_encoded_bytes()).replace(['\n', '\r'], "?");
    format!("{MARKER_START}{shown}): edits to the variables below are overwritten.\n")
}

/// What the file must say: variables to set (in order) and names that must
/// be absent, each with the reason shown to the operator.
#[derive(Debug, Default)]
pub(crate) struct Desired {
    pub set: Vec<(String, String)>,
    pub remove: Vec<(String, &'static str)>,
    /// The comment heading appended variables ([`MARKER`] when empty).
    pub marker: String,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub content: Vec<u8>,
    /// Names whose effective value changes or that are added.
    pub changed: Vec<String>,
    /// Names removed, with why.
    pub removed: Vec<(String, &'static str)>,
}

impl Plan {
    pub(crate) fn is_noop(&self, old: &[u8]) -> bool {
        self.content == old
    }
}

/// The edit of `old` that makes `dialect`'s reader see `desired`.
pub(crate) fn plan(old: &[u8], desired: &Desired, dialect: Dialect) -> Result<Plan, EnvFileError> {
    let parsed = dialect.parse_full(old)?;
    let assignments = parsed.assignments;
    let before = effective(&assignments);
    // (span start, span end, replacement)
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut append = String::new();
    let mut changed = Vec::new();
    for (name, value) in &desired.set {
        let mut occurrences = assignments.iter().filter(|a| &a.key == name);
        match occurrences.next() {
            None => append.push_str(&dialect.line(name, value)?),
            Some(first) => {
                // A line that already says the right thing keeps its bytes
                // (the operator's quoting included).
                if &first.value != value {
                    edits.push((first.span.start, first.span.end, dialect.line(name, value)?));
                }
                // Later duplicates would win under systemd's last-wins rule.
                for dup in occurrences {
                    edits.push((dup.span.start, dup.span.end, String::new()));
                }
            }
        }
        if before.get(name) != Some(value) {
            changed.push(name.clone());
        }
    }
    if dialect == Dialect::Both {
        drop_minio_only_lines(old, &assignments, desired, &mut edits, &mut changed)?;
    }
    let mut removed = Vec::new();
    for (name, why) in &desired.remove {
        let mut any = false;
        for a in assignments.iter().filter(|a| &a.key == name) {
            edits.push((a.span.start, a.span.end, String::new()));
            any = true;
        }
        if any {
            removed.push((name.clone(), *why));
        }
    }
    let mut content = apply(old, edits, append.len());
    // A marker left with nothing under it (its variables moved or were
    // removed) goes too: the file reads as if kesgate never wrote there.
    if append.is_empty() {
        strip_orphan_marker(&mut content);
    } else {
        if let Some(why) = parsed.open_end {
            return Err(EnvFileError::OpenEnd(why));
        }
        append_under_marker(&mut content, &append, &desired.marker);
    }
    Ok(Plan {
        content,
        changed,
        removed,
    })
}

/// A file both read: MinIO's reader sees lines systemd's does not (an
/// `export` line, a key with a space before `=`…), and MinIO's value wins.
/// Such a line for a managed name goes, or it would override.
fn drop_minio_only_lines(
    old: &[u8],
    assignments: &[crate::files::envfile::Assignment],
    desired: &Desired,
    edits: &mut Vec<(usize, usize, String)>,
    changed: &mut Vec<String>,
) -> Result<(), EnvFileError> {
    let systemd_spans: Vec<_> = assignments.iter().map(|a| a.span.clone()).collect();
    let managed = |k: &str| {
        desired.set.iter().any(|(n, _)| n == k) || desired.remove.iter().any(|(n, _)| n == k)
    };
    for a in Dialect::Minio.parse(old)? {
        let overlaps = systemd_spans
            .iter()
            .any(|s| s.start < a.span.end && a.span.start < s.end);
        if managed(a.key.trim()) && !overlaps {
            edits.push((a.span.start, a.span.end, String::new()));
            if !changed.contains(&a.key) && desired.set.iter().any(|(n, _)| *n == a.key) {
                changed.push(a.key.clone());
            }
        }
    }
    Ok(())
}

/// `old` with `edits` (span start, span end, replacement) made, in order.
fn apply(old: &[u8], mut edits: Vec<(usize, usize, String)>, extra: usize) -> Vec<u8> {
    edits.sort_by_key(|e| e.0);
    let mut content = Vec::with_capacity(old.len() + extra + MARKER.len() + 256);
    let mut at = 0;
    for (start, end, text) in edits {
        // The same line named twice (by both readers): edited once.
        if start < at {
            continue;
        }
        content.extend_from_slice(&old[at..start]);
        content.extend_from_slice(text.as_bytes());
        at = end;
    }
    content.extend_from_slice(&old[at..]);
    content
}

/// Appends kesgate's lines, under its marker (written once).
fn append_under_marker(content: &mut Vec<u8>, append: &str, marker: &str) {
    // Only `\n` ends a line for MinIO's reader: after a bare `\r` the
    // marker would join the operator's last value.
    if !content.is_empty() && content.last() != Some(&b'\n') {
        content.push(b'\n');
    }
    let has_marker = content
        .split(|b| *b == b'\n')
        .any(|line| line.starts_with(MARKER_START.as_bytes()));
    if !has_marker {
        let marker = if marker.is_empty() { MARKER } else { marker };
        content.extend_from_slice(marker.as_bytes());
    }
    content.extend_from_slice(append.as_bytes());
}

/// Removes a last line that is kesgate's marker.
fn strip_orphan_marker(content: &mut Vec<u8>) {
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if body[start..].starts_with(MARKER_START.as_bytes()) {
        content.truncate(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn desired() -> Desired {
        Desired {
            set: vec![
                (
                    "MINIO_KMS_KES_ENDPOINT".into(),
                    "https://kes{1...3}:7373".into(),
                ),
                ("MINIO_KMS_KES_KEY_NAME".into(), "key".into()),
                (
                    "MINIO_OPTS".into(),
                    "--console-address \":9001\" $x `y` \\z".into(),
                ),
            ],
            remove: vec![("MINIO_KMS_KES_CERT_FILE".into(), "an API key is configured")],
            ..Default::default()
        }
    }

    #[test]
    fn a_file_both_read_loses_managed_lines_only_minio_sees() {
        let old = "export MINIO_KMS_KES_CERT_FILE=/c\nMINIO_KMS_KES_KEY_NAME=key\nexport MINIO_KMS_KES_KEY_NAME=other\nexport KEEP=1\n";
        let p = plan(old.as_bytes(), &desired(), Dialect::Both).unwrap();
        let new = String::from_utf8(p.content).unwrap();
        assert!(
            !new.contains("CERT_FILE") && !new.contains("=other"),
            "{new}"
        );
        assert!(new.contains("export KEEP=1\n"), "{new}");
        let minio = effective(&Dialect::Minio.parse(new.as_bytes()).unwrap());
        assert_eq!(
            minio.get("MINIO_KMS_KES_KEY_NAME").map(String::as_str),
            Some("key")
        );
    }

    #[test]
    fn updates_in_place_appends_new_removes_duplicates_and_others() {
        let old = "# operator\nMINIO_VOLUMES=/mnt\nMINIO_KMS_KES_KEY_NAME=old\n  MINIO_KMS_KES_CERT_FILE=/c\nX=1\nMINIO_KMS_KES_KEY_NAME=dup\n";
        let p = plan(old.as_bytes(), &desired(), Dialect::Systemd).unwrap();
        let new = String::from_utf8(p.content).unwrap();
        assert_eq!(
            new,
            format!(
                "# operator\nMINIO_VOLUMES=/mnt\nMINIO_KMS_KES_KEY_NAME=\"key\"\nX=1\n{MARKER}MINIO_KMS_KES_ENDPOINT=\"https://kes{{1...3}}:7373\"\nMINIO_OPTS=\"--console-address \\\":9001\\\" \\$x \\`y\\` \\\\z\"\n"
            )
        );
        assert_eq!(
            p.changed,
            [
                "MINIO_KMS_KES_ENDPOINT",
                "MINIO_KMS_KES_KEY_NAME",
                "MINIO_OPTS"
            ]
        );
        assert_eq!(
            p.removed,
            [(
                "MINIO_KMS_KES_CERT_FILE".to_owned(),
                "an API key is configured"
            )]
        );
    }

    #[test]
    fn right_values_keep_the_operators_quoting() {
        let old = "MINIO_KMS_KES_ENDPOINT='https://kes{1...3}:7373'\nMINIO_KMS_KES_KEY_NAME=key\nMINIO_OPTS=\"--console-address \\\":9001\\\" \\$x \\`y\\` \\\\z\"";
        let p = plan(old.as_bytes(), &desired(), Dialect::Systemd).unwrap();
        assert!(
            p.is_noop(old.as_bytes()),
            "{}",
            String::from_utf8_lossy(&p.content)
        );
        assert!(p.changed.is_empty());
    }

    #[test]
    fn missing_final_newline_and_existing_marker() {
        let old = format!("{MARKER}A=1");
        let p = plan(old.as_bytes(), &desired(), Dialect::Systemd).unwrap();
        let new = String::from_utf8(p.content).unwrap();
        assert!(
            new.starts_with(&format!("{MARKER}A=1\nMINIO_KMS_KES_ENDPOINT=")),
            "{new}"
        );
        assert_eq!(new.matches(MARKER).count(), 1);
    }

    // Pieces of operator files: comments (also ones swallowing the next line),
    // blanks, quoting styles, export lines, continuations, odd whitespace,
    // CRLF, unicode, and managed names written in many ways.
    fn piece() -> impl Strategy<Value = String> {
        let name = prop::sample::select(vec![
            "MINIO_VOLUMES",
            "MINIO_OPTS",
            "MINIO_KMS_KES_KEY_NAME",
            "MINIO_KMS_KES_ENDPOINT",
            "MINIO_KMS_KES_CERT_FILE",
            "MINIO_ROOT_USER",
            "lower_case",
            "ÜBER",
        ]);
        let value = "[ -~ä€\t]{0,12}";
        prop_oneof![
            Just("\n".to_owned()),
            "[ \t]{0,3}[#;][ -~ü]{0,20}\n",
            Just("# trailing backslash swallows the next line \\\n".to_owned()),
            (name.clone(), value).prop_map(|(n, v)| format!("{n}={}\n", v.replace('\\', ""))),
            (name.clone(), value)
                .prop_map(|(n, v)| format!("{n}=\"{}\"\n", v.replace(['\\', '"'], ""))),
            (name.clone(), value)
                .prop_map(|(n, v)| format!("  {n} = '{}'  \r\n", v.replace('\'', ""))),
            (name.clone(), value)
                .prop_map(|(n, v)| format!("export {n}={}\n", v.replace('\\', ""))),
            (name, value).prop_map(|(n, v)| format!("{n}=a\\\n{}\n", v.replace('\\', ""))),
            "[ -~]{0,10}\n",
        ]
    }

    fn file() -> impl Strategy<Value = String> {
        prop::collection::vec(piece(), 0..12).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn unmanaged_bytes_stay_managed_values_hold_and_twice_is_noop(old in file()) {
            let d = desired();
            let p = match plan(old.as_bytes(), &d, Dialect::Systemd) {
                Ok(p) => p,
                // Refused: the file ends inside a quote or a continuation.
                Err(EnvFileError::OpenEnd(_)) => {
                    prop_assert!(crate::files::envfile::systemd::parse_full(old.as_bytes()).unwrap().open_end.is_some());
                    return Ok(());
                }
                Err(e) => panic!("{e}"),
            };
            let managed = |k: &str| d.set.iter().any(|(n, _)| n == k) || d.remove.iter().any(|(n, _)| n == k);
            // Every byte outside managed assignments, in order.
            let strip = |bytes: &[u8]| -> Vec<u8> {
                let a = crate::files::envfile::Dialect::Systemd.parse(bytes).unwrap();
                let mut out = Vec::new();
                let mut at = 0;
                for x in a.iter().filter(|x| managed(&x.key)) {
                    out.extend_from_slice(&bytes[at..x.span.start]);
                    at = x.span.end;
                }
                out.extend_from_slice(&bytes[at..]);
                out
            };
            let kept_old = strip(old.as_bytes());
            let kept_new = strip(&p.content);
            prop_assert!(kept_new.starts_with(&kept_old), "old {:?}\nnew {:?}", old, String::from_utf8_lossy(&p.content));
            let tail = &kept_new[kept_old.len()..];
            prop_assert!(tail.is_empty() || tail == b"\n" || tail == MARKER.as_bytes() || tail == [b"\n", MARKER.as_bytes()].concat().as_slice(), "tail {:?}", String::from_utf8_lossy(tail));
            // systemd applies exactly the configured values, and nothing removed.
            let env = effective(&crate::files::envfile::Dialect::Systemd.parse(&p.content).unwrap());
            for (n, v) in &d.set {
                prop_assert_eq!(env.get(n), Some(v));
            }
            for (n, _) in &d.remove {
                prop_assert!(!env.contains_key(n));
            }
            // Rendering the result again changes nothing.
            let again = plan(&p.content, &d, Dialect::Systemd).unwrap();
            prop_assert!(again.is_noop(&p.content));
            prop_assert!(again.changed.is_empty() && again.removed.is_empty());
        }

        /// The one-file pattern: MINIO_CONFIG_ENV_FILE names the
        /// EnvironmentFile, so systemd and MinIO both read it. A value is
        /// either written so that both read it exactly, or refused.
        #[test]
        fn a_file_both_parsers_read_gets_values_both_read_alike_or_a_refusal(
            value in "[ -~üß\t]{0,24}",
            before in prop::sample::select(vec!["", "MINIO_VOLUMES=/data\n", "# c\nK=old\n", "K='old'\nX=1\n"]),
        ) {
            let d = Desired { set: vec![("K".into(), value.clone())], remove: vec![], ..Default::default() };
            match plan(before.as_bytes(), &d, Dialect::Both) {
                Ok(p) => {
                    let sd = effective(&crate::files::envfile::Dialect::Systemd.parse(&p.content).unwrap());
                    let mn = effective(&crate::files::envfile::minio::parse(&p.content).unwrap());
                    prop_assert_eq!(sd.get("K"), Some(&value), "systemd: {:?}", String::from_utf8_lossy(&p.content));
                    prop_assert_eq!(mn.get("K"), Some(&value), "MinIO: {:?}", String::from_utf8_lossy(&p.content));
                }
                Err(EnvFileError::Unwritable { name, .. }) => {
                    prop_assert_eq!(name, "K");
                    prop_assert!(value.contains('\'') && (value.contains('"') || value.contains('\\')), "refused {:?}", value);
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}
