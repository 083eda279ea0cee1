//! `render --diff`: what changes, with every value masked except the KES
//! variables that are not secret (endpoint, key name, file paths). A value
//! is masked whatever its name and wherever it is: assignments with or
//! without `export`, continued lines, comments (a commented-out password is
//! still a password). A masked value that changes says so.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use crate::files::envfile::{self, Dialect};

/// The variables whose values a diff shows: kesgate's own, none secret.
const SHOWN: &[&str] = &[
    "MINIO_KMS_KES_ENDPOINT",
    "MINIO_KMS_KES_KEY_NAME",
    "MINIO_KMS_KES_CAPATH",
    "MINIO_KMS_KES_CERT_FILE",
    "MINIO_KMS_KES_KEY_FILE",
    "MINIO_KMS_KES_ENCLAVE",
];

fn shown(name: &str) -> bool {
    SHOWN.contains(&name)
}

/// A unified diff of `old` → `new` with values masked.
pub(super) fn masked(path: &Path, old: &[u8], new: &[u8], dialect: Dialect) -> String {
    let values = |bytes: &[u8]| -> BTreeMap<String, String> {
        dialect
            .parse(bytes)
            .map(|a| envfile::effective(&a))
            .unwrap_or_default()
    };
    let (before, after) = (values(old), values(new));
    let changed = |name: &str| before.get(name) != after.get(name);
    let (old, new) = (mask(old, dialect, &|_| false), mask(new, dialect, &changed));
    let name = path.display().to_string();
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .header(&name, &format!("{name} (rendered)"))
        .to_string()
}

/// The file's text with every value but the shown ones masked.
fn mask(bytes: &[u8], dialect: Dialect, changed: &dyn Fn(&str) -> bool) -> String {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return "<not UTF-8: masked>\n".into();
    };
    let spans: Vec<Range<usize>> = dialect
        .parse(bytes)
        .map(|a| {
            a.into_iter()
                .filter(|a| shown(&a.key))
                .map(|a| a.span)
                .collect()
        })
        .unwrap_or_default();
    let mut out = String::new();
    let mut at = 0;
    for span in spans {
        if span.start < at || span.end > text.len() {
            continue;
        }
        mask_lines(&text[at..span.start], changed, &mut out);
        out.push_str(&text[span.clone()]);
        at = span.end;
    }
    mask_lines(&text[at..], changed, &mut out);
    out
}

fn mask_lines(region: &str, changed: &dyn Fn(&str) -> bool, out: &mut String) {
    for line in region.split_inclusive('\n') {
        let end = if line.ends_with('\n') { "\n" } else { "" };
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        let indent = &body[..body.len() - trimmed.len()];
        if trimmed.is_empty() {
            out.push_str(line);
            continue;
        }
        if line.starts_with(super::edit::MARKER_START) {
            out.push_str(line);
            continue;
        }
        if trimmed.starts_with(['#', ';']) {
            out.push_str(&format!("{indent}# <comment masked>{end}"));
            continue;
        }
        let (export, rest) = match trimmed.strip_prefix("export") {
            Some(r) if r.starts_with([' ', '\t']) => ("export ", r.trim_start()),
            _ => ("", trimmed),
        };
        match rest.split_once('=') {
            Some((name, _)) if envfile::valid_name(name.trim_end()) => {
                let name = name.trim_end();
                let note = if changed(name) { ": changed" } else { "" };
                out.push_str(&format!("{indent}{export}{name}=<masked{note}>{end}"));
            }
            _ => out.push_str(&format!("{indent}<masked>{end}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: &[&str] = &["hunter2", "user:pw@", "kes:v1:AAAA", "s3cr3t"];

    #[test]
    fn only_kes_variables_that_are_not_secret_are_shown() {
        let old = b"# old password: s3cr3t\nexport MINIO_ROOT_PASSWORD=hunter2\nMINIO_NOTIFY_MYSQL_DSN_STRING_PRIMARY=\"user:pw@tcp(db)/x\"\nMINIO_OPTS=\"--a \\\n s3cr3t\"\nMINIO_KMS_KES_ENDPOINT=https://old:7373\n";
        let new = b"# old password: s3cr3t\nexport MINIO_ROOT_PASSWORD=hunter2\nMINIO_NOTIFY_MYSQL_DSN_STRING_PRIMARY=\"user:pw@tcp(db)/x\"\nMINIO_OPTS=\"--a \\\n s3cr3t\"\nMINIO_KMS_KES_ENDPOINT=https://new:7373\nMINIO_KMS_KES_API_KEY=kes:v1:AAAA\n";
        for dialect in [Dialect::Systemd, Dialect::Both] {
            let d = masked(Path::new("/etc/default/minio"), old, new, dialect);
            for s in SECRETS {
                assert!(!d.contains(s), "{s} in\n{d}");
            }
            assert!(
                d.contains("-MINIO_KMS_KES_ENDPOINT=https://old:7373"),
                "{d}"
            );
            assert!(
                d.contains("+MINIO_KMS_KES_ENDPOINT=https://new:7373"),
                "{d}"
            );
            assert!(
                d.contains("+MINIO_KMS_KES_API_KEY=<masked: changed>"),
                "{d}"
            );
            let m = mask(old, dialect, &|_| false);
            assert!(m.contains("\nexport MINIO_ROOT_PASSWORD=<masked>\n"), "{m}");
        }
    }

    #[test]
    fn minio_syntax_and_unparsable_files_are_masked_too() {
        let old = b"MINIO_ROOT_PASSWORD='hunter2'\nnot an assignment s3cr3t\n";
        let d = masked(Path::new("/etc/minio/config.env"), old, b"", Dialect::Minio);
        assert!(!d.contains("hunter2") && !d.contains("s3cr3t"), "{d}");
        let d = masked(Path::new("x"), b"A=\xff hunter2\n", b"", Dialect::Systemd);
        assert!(!d.contains("hunter2"), "{d}");
    }
}
