//! MINIO_CONFIG_ENV_FILE as MinIO reads it (cmd/common-main.go
//! `minioEnvironFromFile`, `parsEnvEntry`; docs/facts.md, "MinIO's KES client"), for the MinIO
//! stand-in: opened with a plain open (a relative path from the working
//! directory), any error but "does not exist" fatal; split as Go's
//! bufio.Scanner splits (at `\n`, one trailing `\r` dropped, a line of 64 KiB
//! or more fatal); bytes, not text; each line trimmed as Go's
//! strings.TrimSpace; `#` lines skipped; `export` stripped (no space needed);
//! split at the first `=`; one pair of matching outer quotes removed.
//! tests/facts_minio.rs holds a test per rule against MinIO's own code
//! (tests/minio-env-oracle).

use std::io::Read as _;

/// (key, value) pairs, bytes as they are.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Go's bufio.MaxScanTokenSize.
pub const MAX_LINE: usize = 64 * 1024;

/// The assignments, in order; `Ok(None)` when the file does not exist.
pub fn read(path: &std::path::Path) -> Result<Option<Entries>, String> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("open {}: {e}", path.display())),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("read {}: {e}", path.display()))?;
    parse(&bytes).map(Some)
}

pub fn parse(bytes: &[u8]) -> Result<Entries, String> {
    let mut out = Vec::new();
    for raw in bytes.split_inclusive(|b| *b == b'\n') {
        let newline = raw.last() == Some(&b'\n');
        if raw.len() + usize::from(!newline) > MAX_LINE {
            return Err("bufio.Scanner: token too long".into());
        }
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = trim_space(line);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let entry = trim_space(line.strip_prefix(b"export").unwrap_or(line));
        let Some(eq) = entry.iter().position(|b| *b == b'=') else {
            return Err(format!(
                "envEntry malformed; {}, expected to be of form 'KEY=value'",
                String::from_utf8_lossy(line)
            ));
        };
        let (k, v) = (&entry[..eq], &entry[eq + 1..]);
        let v = if v.len() >= 2 && (v[0] == b'"' || v[0] == b'\'') && v[v.len() - 1] == v[0] {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}

/// Go's strings.TrimSpace: Unicode white space, decoded as UTF-8 where it is.
fn trim_space(mut b: &[u8]) -> &[u8] {
    while let Some(n) = leading_space(b) {
        b = &b[n..];
    }
    while let Some(n) = (1..=4.min(b.len())).find(|n| leading_space(&b[b.len() - n..]) == Some(*n))
    {
        b = &b[..b.len() - n];
    }
    b
}

fn leading_space(b: &[u8]) -> Option<usize> {
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
