//! `MINIO_CONFIG_ENV_FILE` read exactly as MinIO reads it (cmd/common-main.go
//! `parsEnvEntry`): line by line (a trailing `\r` dropped), each trimmed;
//! empty lines and lines starting with `#` skipped; a leading `export`
//! stripped; split at the first `=` (no `=`: MinIO refuses to start,
//! "envEntry malformed"); one pair of matching outer quotes (`"…"` or
//! `'…'`) removed. No escapes, no continuation lines, no inline comments.

use super::Assignment;
use super::systemd::EnvFileError;

pub fn parse(bytes: &[u8]) -> Result<Vec<Assignment>, EnvFileError> {
    let text = super::text_of(bytes)?;
    let mut out = Vec::new();
    let mut start = 0;
    for (n, raw) in text.split_inclusive('\n').enumerate() {
        let end = start + raw.len();
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line).trim();
        if !line.is_empty() && !line.starts_with('#') {
            let entry = line.strip_prefix("export").unwrap_or(line).trim();
            let Some((key, value)) = entry.split_once('=') else {
                return Err(EnvFileError::Malformed { line: n + 1 });
            };
            out.push(Assignment {
                key: key.to_owned(),
                value: unquote(value).to_owned(),
                span: start..end,
            });
        }
        start = end;
    }
    Ok(out)
}

fn unquote(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

fn one_line(name: &str, value: &str) -> Result<(), EnvFileError> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(EnvFileError::Unwritable {
            name: name.to_owned(),
            why: "its value holds a line break, which no env file line can carry",
        });
    }
    Ok(())
}

/// `NAME="value"`: MinIO strips the outer quotes and nothing else, so any
/// one-line value reads back exactly.
pub fn assignment_line(name: &str, value: &str) -> Result<String, EnvFileError> {
    one_line(name, value)?;
    Ok(format!("{name}=\"{value}\"\n"))
}

/// A line systemd and MinIO both read as `value` (a file both parsers
/// read): `'value'` (literal for both) unless the value holds a `'`;
/// else `"value"` unless it holds a `"` or `\` (systemd unescapes `\"`,
/// `\\`, `` \` ``, `\$` inside double quotes, MinIO does not).
pub fn both_line(name: &str, value: &str) -> Result<String, EnvFileError> {
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
    }
}
