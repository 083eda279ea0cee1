//! An EnvironmentFile read exactly as systemd 252 reads it
//! (src/basic/env-file.c). `open_end` is `Some` when the file ends inside an
//! open quote or after a backslash that joins the next line: appended lines
//! would be swallowed.

pub(crate) use super::{Assignment, Parsed};

/// Why systemd would ignore the whole file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EnvFileError {
    #[error("line {line}: the file is not valid UTF-8, so systemd ignores all of it")]
    NotUtf8 { line: usize },
    #[error("line {line}: the file contains a NUL byte, so systemd ignores all of it")]
    Nul { line: usize },
    /// Lines appended at the end would not stand on their own.
    #[error("{0}; kesgate would have to append its variables after it")]
    OpenEnd(String),
    /// MINIO_CONFIG_ENV_FILE: a line MinIO cannot parse.
    #[error(
        "line {line} is not of the form KEY=value, so MinIO refuses to start (\"envEntry malformed\")"
    )]
    Malformed { line: usize },
    /// MINIO_CONFIG_ENV_FILE: a line longer than Go's bufio.Scanner takes.
    #[error(
        "line {line} is {len} bytes long; MinIO reads this file with a 64 KiB line limit and refuses to start (\"Unable to read the config environment file\")"
    )]
    LineTooLong { line: usize, len: usize },
    /// MINIO_CONFIG_ENV_FILE: a NUL byte, which no environment can carry.
    #[error("line {line} holds a NUL byte, which no environment variable can carry")]
    MinioNul { line: usize },
    /// A configured value that cannot be written so that its reader reads it back.
    #[error("cannot write {name}: {why}")]
    Unwritable { name: String, why: &'static str },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    PreKey,
    Key,
    PreValue,
    Value,
    ValueEscape,
    SingleQuote,
    DoubleQuote,
    DoubleQuoteEscape,
    Comment,
    CommentEscape,
}

const NEWLINE: &[char] = &['\n', '\r'];
const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

/// systemd's env_name_is_valid for files: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn valid_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `bytes`; invalid names are skipped (systemd logs and ignores them).
pub(crate) fn parse_full(bytes: &[u8]) -> Result<Parsed, EnvFileError> {
    let text = super::text_of(bytes)?;
    let mut m = Machine::default();
    for (i, c) in text.char_indices() {
        m.feed(i, c);
    }
    // Would a line appended after a newline start afresh?
    let mut probe = m.clone();
    if !text.ends_with(NEWLINE) {
        probe.feed(text.len(), '\n');
    }
    let open_end = match probe.state {
        State::PreKey => None,
        State::SingleQuote | State::DoubleQuote | State::DoubleQuoteEscape => Some(format!(
            "line {}: a quote opened here is never closed, so systemd reads the rest of the file into {}",
            super::line_of(bytes, m.opened_at),
            m.key
        )),
        _ => Some(format!(
            "line {}: the file ends with a backslash that joins the next line to this one",
            super::line_of(bytes, probe.last_line_start)
        )),
    };
    m.finish(text.len());
    Ok(Parsed {
        assignments: m.out,
        open_end,
    })
}

/// systemd's parse_env_file_internal as a state machine over characters.
#[derive(Clone)]
struct Machine {
    state: State,
    key: String,
    value: String,
    /// Lengths at which trailing whitespace began (systemd's last_*_whitespace).
    key_ws: Option<usize>,
    value_ws: Option<usize>,
    line_start: usize,
    last_line_start: usize,
    record_start: usize,
    opened_at: usize,
    out: Vec<Assignment>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            state: State::PreKey,
            key: String::new(),
            value: String::new(),
            key_ws: None,
            value_ws: None,
            line_start: 0,
            last_line_start: 0,
            record_start: 0,
            opened_at: 0,
            out: Vec::new(),
        }
    }
}

impl Machine {
    fn push(&mut self, end: usize, strip_value: bool) {
        if let Some(n) = self.key_ws {
            self.key.truncate(n);
        }
        if let (true, Some(n)) = (strip_value, self.value_ws) {
            self.value.truncate(n);
        }
        if valid_name(&self.key) {
            self.out.push(Assignment {
                key: self.key.clone(),
                value: self.value.clone(),
                span: self.record_start..end,
            });
        }
        self.key.clear();
        self.value.clear();
    }

    fn feed(&mut self, i: usize, c: char) {
        let next = i + c.len_utf8();
        match self.state {
            State::PreKey => {
                if c == '#' || c == ';' {
                    self.state = State::Comment;
                } else if !WHITESPACE.contains(&c) {
                    self.state = State::Key;
                    self.record_start = self.line_start;
                    self.key.clear();
                    self.key.push(c);
                    self.key_ws = None;
                }
            }
            State::Key => {
                if NEWLINE.contains(&c) {
                    self.state = State::PreKey; // a line without `=` is skipped
                    self.key.clear();
                } else if c == '=' {
                    self.state = State::PreValue;
                    self.value.clear();
                    self.value_ws = None;
                } else {
                    if !WHITESPACE.contains(&c) {
                        self.key_ws = None;
                    } else if self.key_ws.is_none() {
                        self.key_ws = Some(self.key.len());
                    }
                    self.key.push(c);
                }
            }
            State::PreValue => {
                if NEWLINE.contains(&c) {
                    self.state = State::PreKey;
                    self.push(next, false);
                } else if c == '\'' {
                    self.state = State::SingleQuote;
                    self.opened_at = i;
                } else if c == '"' {
                    self.state = State::DoubleQuote;
                    self.opened_at = i;
                } else if c == '\\' {
                    self.state = State::ValueEscape;
                } else if !WHITESPACE.contains(&c) {
                    self.state = State::Value;
                    self.value.push(c);
                }
            }
            State::Value => {
                if NEWLINE.contains(&c) {
                    self.state = State::PreKey;
                    self.push(next, true);
                } else if c == '\\' {
                    self.state = State::ValueEscape;
                    self.value_ws = None;
                } else {
                    if !WHITESPACE.contains(&c) {
                        self.value_ws = None;
                    } else if self.value_ws.is_none() {
                        self.value_ws = Some(self.value.len());
                    }
                    self.value.push(c);
                }
            }
            State::ValueEscape => {
                self.state = State::Value;
                if !NEWLINE.contains(&c) {
                    self.value.push(c);
                }
            }
            State::SingleQuote => {
                if c == '\'' {
                    self.state = State::PreValue;
                } else {
                    self.value.push(c);
                }
            }
            State::DoubleQuote => {
                if c == '"' {
                    self.state = State::PreValue;
                } else if c == '\\' {
                    self.state = State::DoubleQuoteEscape;
                } else {
                    self.value.push(c);
                }
            }
            State::DoubleQuoteEscape => {
                self.state = State::DoubleQuote;
                if "\"\\`$".contains(c) {
                    self.value.push(c);
                } else if c != '\n' {
                    self.value.push('\\');
                    self.value.push(c);
                }
            }
            State::Comment => {
                if c == '\\' {
                    self.state = State::CommentEscape;
                } else if NEWLINE.contains(&c) {
                    self.state = State::PreKey;
                }
            }
            State::CommentEscape => self.state = State::Comment,
        }
        if NEWLINE.contains(&c) {
            self.last_line_start = self.line_start;
            self.line_start = next;
        }
    }

    /// End of file: a pending assignment counts (an open quote included).
    fn finish(&mut self, end: usize) {
        match self.state {
            State::Value | State::ValueEscape => self.push(end, true),
            State::PreValue
            | State::SingleQuote
            | State::DoubleQuote
            | State::DoubleQuoteEscape => self.push(end, false),
            _ => {}
        }
    }
}

/// `NAME="value"` that systemd reads back as exactly `value`: double quotes,
/// with `\`, `"`, `` ` `` and `$` escaped. Values holding a newline or NUL
/// are refused at config load, so they never get here.
pub(crate) fn assignment_line(name: &str, value: &str) -> String {
    let mut line = String::with_capacity(name.len() + value.len() + 4);
    line.push_str(name);
    line.push_str("=\"");
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '`' | '$') {
            line.push('\\');
        }
        line.push(c);
    }
    line.push_str("\"\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Vec<Assignment>, EnvFileError> {
        parse_full(bytes).map(|p| p.assignments)
    }

    fn values(text: &str) -> Vec<(String, String)> {
        parse(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|a| (a.key, a.value))
            .collect()
    }

    fn one(raw: &str) -> String {
        let v = values(&format!("K={raw}\n"));
        assert_eq!(v.len(), 1, "{raw:?} → {v:?}");
        v[0].1.clone()
    }

    /// The rules in docs/facts.md, "systemd", checked against systemd 252.
    #[test]
    fn tricky_values_as_systemd_reads_them() {
        for (raw, unquoted, dq, sq) in [
            ("  x  ", "x", "  x  ", "  x  "),
            ("a\"b", "a\"b", "ab\"", "a\"b"),
            ("back\\slash", "backslash", "back\\slash", "back\\slash"),
            ("a\\\\b", "a\\b", "a\\b", "a\\\\b"),
            ("a\\nb", "anb", "a\\nb", "a\\nb"),
            ("a\\\"b", "a\"b", "a\"b", "a\\\"b"),
            ("\\$HOME", "$HOME", "$HOME", "\\$HOME"),
        ] {
            assert_eq!(one(raw), unquoted, "unquoted {raw:?}");
            // The table's quoted columns put the raw text between the quotes.
            if raw != "a\"b" {
                assert_eq!(one(&format!("\"{raw}\"")), dq, "double {raw:?}");
            }
            if !raw.contains('\'') {
                assert_eq!(one(&format!("'{raw}'")), sq, "single {raw:?}");
            }
        }
        assert_eq!(one("\"a\"b\""), "ab\"");
        for literal in [
            "$HOME", "${H}x", "foo #bar", "#x", "a=b=c", "a;b", "`x`", "a\tb", "ünï", "?x=1&y=2",
        ] {
            assert_eq!(one(literal), literal, "{literal:?}");
        }
    }

    #[test]
    fn comments_continuations_and_invalid_names() {
        let text = "# c \\\nSWALLOWED=1\nK=\"v\" # x\nexport E=1\n  A = 1  \nB=x\\\ny\n=v\nnoequals\nC='q\nr'\n";
        assert_eq!(
            values(text),
            [("K", "v# x"), ("A", "1"), ("B", "xy"), ("C", "q\nr")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn crlf_lone_cr_and_open_quote_at_eof() {
        assert_eq!(
            values("A=1\r\nB=2\r\n"),
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(
            values("A=1\rB=2"),
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(values("A=\"open"), [("A".into(), "open".into())]);
    }

    #[test]
    fn spans_cover_whole_lines() {
        let text = "# head\n  A=1\nB=\"x\\\ny\"\nC=3";
        let a = parse(text.as_bytes()).unwrap();
        assert_eq!(&text[a[0].span.clone()], "  A=1\n");
        assert_eq!(&text[a[1].span.clone()], "B=\"x\\\ny\"\n");
        assert_eq!(&text[a[2].span.clone()], "C=3");
    }

    #[test]
    fn open_ends_are_detected() {
        for (text, line) in [
            ("A='x\n", 1),
            ("A=1\nB=\"x", 2),
            ("# c \\\n", 1),
            ("# c \\", 1),
            ("A=x\\\n", 1),
            ("A=1\nB=x\\", 2),
        ] {
            let why = parse_full(text.as_bytes())
                .unwrap()
                .open_end
                .unwrap_or_else(|| panic!("{text:?}"));
            assert!(why.starts_with(&format!("line {line}:")), "{text:?}: {why}");
        }
        for text in ["", "A=1", "A=1\n", "# c", "# c\n", "A='x'\n", "noequals"] {
            assert_eq!(
                parse_full(text.as_bytes()).unwrap().open_end,
                None,
                "{text:?}"
            );
        }
    }

    #[test]
    fn whole_file_rejections() {
        assert_eq!(parse(b"A=1\nB=\x00\n"), Err(EnvFileError::Nul { line: 2 }));
        assert_eq!(
            parse(b"A=1\n\nB=\xff\n"),
            Err(EnvFileError::NotUtf8 { line: 3 })
        );
    }

    #[test]
    fn written_lines_read_back_exactly() {
        for v in [
            "",
            "  x  ",
            "a\"b",
            "back\\slash",
            "$HOME",
            "`id`",
            "trailing\\",
            "#x",
            "ünï",
            "a'b",
            "x\ty",
        ] {
            let line = assignment_line("K", v);
            assert_eq!(values(&line), [("K".to_owned(), v.to_owned())], "{line}");
        }
    }
}
