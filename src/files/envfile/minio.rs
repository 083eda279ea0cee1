//! `MINIO_CONFIG_ENV_FILE` read exactly as MinIO reads it (cmd/common-main.go
//! `minioEnvironFromFile`, `parsEnvEntry`; docs/facts.md, "MinIO's KES client"): bytes, not text (a
//! Latin-1 byte reaches MinIO as is); line by line as Go's `bufio.Scanner`
//! splits them — at `\n`, one trailing `\r` dropped (also on a last line
//! without `\n`), and no line of 64 KiB or more (MinIO exits); each line
//! trimmed; empty lines and lines starting with `#` skipped; a leading
//! `export` stripped; split at the first `=` (no `=`: MinIO refuses to
//! start, "envEntry malformed"); one pair of matching outer quotes (`"…"`
//! or `'…'`) removed. No escapes, no continuation lines, no inline
//! comments. tests/minio-env-oracle is MinIO's own code, run for comparison.

use super::Assignment;
use super::systemd::EnvFileError;

/// Go's bufio.MaxScanTokenSize: the Scanner's buffer never grows past it,
/// and a line (with its `\n`) must fit in it.
pub(crate) const MAX_LINE: usize = 64 * 1024;

pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Assignment>, EnvFileError> {
    let mut out = Vec::new();
    let mut start = 0;
    for (n, raw) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        let end = start + raw.len();
        // The Scanner needs room for the line and one byte more (its `\n`,
        // or the look that finds the end of the file).
        let newline = raw.last() == Some(&b'\n');
        if raw.len() + usize::from(!newline) > MAX_LINE {
            return Err(EnvFileError::LineTooLong {
                line: n + 1,
                len: raw.len() - usize::from(newline),
            });
        }
        if raw.contains(&0) {
            return Err(EnvFileError::MinioNul { line: n + 1 });
        }
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = trim(line);
        if !line.is_empty() && !line.starts_with(b"#") {
            let entry = trim(line.strip_prefix(b"export").unwrap_or(line));
            let Some(eq) = entry.iter().position(|b| *b == b'=') else {
                return Err(EnvFileError::Malformed { line: n + 1 });
            };
            let (key, value) = (&entry[..eq], &entry[eq + 1..]);
            out.push(Assignment {
                key: String::from_utf8_lossy(key).into_owned(),
                value: String::from_utf8_lossy(unquote(value)).into_owned(),
                span: start..end,
            });
        }
        start = end;
    }
    Ok(out)
}

/// Go's strings.TrimSpace: Unicode white space at both ends; bytes that are
/// not UTF-8 are not space.
fn trim(b: &[u8]) -> &[u8] {
    let mut s = 0;
    let mut e = b.len();
    while s < e {
        match space_len(&b[s..e]) {
            Some(n) => s += n,
            None => break,
        }
    }
    while e > s {
        match (1..=4.min(e - s)).find(|n| space_len(&b[e - n..e]) == Some(*n)) {
            Some(n) => e -= n,
            None => break,
        }
    }
    &b[s..e]
}

/// The length of the white-space character `b` starts with, if it does.
fn space_len(b: &[u8]) -> Option<usize> {
    let first = *b.first()?;
    if first < 0x80 {
        return matches!(first, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r').then_some(1);
    }
    let n = match first {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return None,
    };
    let c = std::str::from_utf8(b.get(..n)?).ok()?.chars().next()?;
    c.is_whitespace().then_some(n)
}

fn unquote(b: &[u8]) -> &[u8] {
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &b[1..b.len() - 1]
    } else {
        b
    }
}

fn one_line(name: &str, value: &str) -> Result<(), EnvFileError> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(EnvFileError::Unwritable {
            name: name.to_owned(),
            why: "its value holds a line break, which no env file line can carry",
        });
    }
    // Never write what MinIO's reader (and so kesgate's) would refuse.
    if name.len() + value.len() + 4 > MAX_LINE {
        return Err(EnvFileError::Unwritable {
            name: name.to_owned(),
            why: "its line would be 64 KiB or longer, which MinIO cannot read",
        });
    }
    Ok(())
}

/// `NAME="value"`: MinIO strips the outer quotes and nothing else, so any
/// one-line value reads back exactly.
pub(crate) fn assignment_line(name: &str, value: &str) -> Result<String, EnvFileError> {
    one_line(name, value)?;
    Ok(format!("{name}=\"{value}\"\n"))
}

/// A line systemd and MinIO both read as `value` (a file both parsers
/// read): `'value'` (literal for both) unless the value holds a `'`;
/// else `"value"` unless it holds a `"` or `\` (systemd unescapes `\"`,
/// `\\`, `` \` ``, `\$` inside double quotes, MinIO does not).
pub(crate) fn both_line(name: &str, value: &str) -> Result<String, EnvFileError> {
    one_line(name, value)?;
    if !value.contains('\'') {
        return Ok(format!("{name}='{value}'\n"));
    }
    if !value.contains(['"', '\\']) {
        return Ok(format!("{name}=\"{value}\"\n"));
    }
    Err(EnvFileError::Unwritable {
        name: name.to_owned(),
        why: "its value holds both quote kinds (or a ' and a backslash): systemd and MinIO, which both read this file, would read it differently",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String)> {
        parse(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|a| (a.key, a.value))
            .collect()
    }

    #[test]
    fn as_minio_parses_its_config_env() {
        let v = values(
            "# comment\n\n  export MINIO_ROOT_USER=admin\r\nA=\"q\\\"x\"\nB='single'\nC=  spaced  \nD=a=b=c\nE=\"unbalanced'\nexportF=1\nG=\"\n",
        );
        assert_eq!(
            v,
            [
                ("MINIO_ROOT_USER".into(), "admin".into()),
                ("A".into(), "q\\\"x".into()),
                ("B".into(), "single".into()),
                // The line is trimmed, then the entry: inner spaces stay.
                ("C".into(), "  spaced".into()),
                ("D".into(), "a=b=c".into()),
                ("E".into(), "\"unbalanced'".into()),
                ("F".into(), "1".into()),
                ("G".into(), "\"".into()),
            ]
        );
        assert_eq!(
            parse(b"OK=1\nnot an assignment\n"),
            Err(EnvFileError::Malformed { line: 2 })
        );
    }

    #[test]
    fn written_lines_read_back_exactly() {
        for value in [
            "plain",
            "  edge  ",
            "a\"b",
            "'q'",
            "\\back\\",
            "$HOME `x` #h",
            "",
        ] {
            let line = assignment_line("K", value).unwrap();
            assert_eq!(
                values(&line),
                [("K".to_owned(), value.to_owned())],
                "{line}"
            );
        }
        assert!(assignment_line("K", "a\nb").is_err());
        assert!(assignment_line("K", &"x".repeat(MAX_LINE)).is_err());
    }

    #[test]
    fn bytes_as_go_reads_them() {
        // Latin-1 in a value: MinIO takes it as is (not UTF-8).
        let a = parse(b"A=caf\xe9\nB=2\n").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].value, "2");
        // A last line ending in a bare \r: dropped there too.
        assert_eq!(parse(b"A=1\r").unwrap()[0].value, "1");
        // 64 KiB: a line of 65535 bytes and its \n fit, 65536 do not.
        let ok = format!("A={}\n", "x".repeat(MAX_LINE - 3));
        assert!(parse(ok.as_bytes()).is_ok());
        let long = format!("A={}\n", "x".repeat(MAX_LINE - 2));
        assert_eq!(
            parse(long.as_bytes()),
            Err(EnvFileError::LineTooLong {
                line: 1,
                len: MAX_LINE
            })
        );
        // Without a \n the same: 65535 bytes at the end of the file pass.
        let last = format!("A={}", "x".repeat(MAX_LINE - 3));
        assert!(parse(last.as_bytes()).is_ok());
        let last = format!("A={}", "x".repeat(MAX_LINE - 2));
        assert!(parse(last.as_bytes()).is_err());
        // Unicode white space is trimmed as Go trims it.
        assert_eq!(parse("\u{a0}A=1\u{2003}\n".as_bytes()).unwrap()[0].key, "A");
    }
}
