//! `{N...M}` ellipses in endpoints, expanded exactly as MinIO expands
//! MINIO_KMS_KES_ENDPOINT (minio/pkg ellipses: FindEllipsesPatterns + Expand),
//! so kesgate probes the very hosts MinIO will connect to.

/// One `{N...M}` range with the literal text around it.
struct Pattern {
    prefix: String,
    suffix: String,
    seq: Vec<String>,
}

/// MinIO's HasEllipses: any `...`, or both braces.
pub(super) fn has_ellipses(arg: &str) -> bool {
    arg.contains("...") || (arg.contains('{') && arg.contains('}'))
}

/// The most endpoints kesgate probes (all entries together): far above a
/// real KES cluster, far below what would exhaust memory or the network.
pub(super) const MAX_ENDPOINTS: usize = 1024;

/// Expands one endpoint. Without ellipses the endpoint is returned as is.
pub(super) fn expand(arg: &str) -> Result<Vec<String>, String> {
    if !has_ellipses(arg) {
        return Ok(vec![arg.to_owned()]);
    }
    let patterns = find_patterns(arg)?;
    let labels: Vec<Vec<String>> = patterns.iter().map(Pattern::expand).collect();
    let count = labels
        .iter()
        .try_fold(1usize, |n, l| n.checked_mul(l.len()))
        .filter(|n| *n <= MAX_ENDPOINTS);
    if count.is_none() {
        return Err(too_many(arg));
    }
    Ok(cartesian(&labels).into_iter().map(|p| p.concat()).collect())
}

/// MinIO's regex `(.*)({[0-9a-z]*\.\.\.[0-9a-z]*})(.*)`: the greedy prefix
/// means the match is the *last* brace group; returns (prefix, group, suffix).
fn last_group(s: &str) -> Option<(&str, &str, &str)> {
    let bytes = s.as_bytes();
    for start in (0..bytes.len()).rev() {
        if bytes[start] != b'{' {
            continue;
        }
        let rest = &s[start + 1..];
        let Some(close) = rest.find('}') else {
            continue;
        };
        let inner = &rest[..close];
        let is_range = inner
            .split_once("...")
            .is_some_and(|(a, b)| is_label(a) && is_label(b));
        if is_range {
            let end = start + 1 + close + 1;
            return Some((&s[..start], &s[start..end], &s[end..]));
        }
    }
    None
}

fn is_label(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

pub(super) fn too_many(arg: &str) -> String {
    format!("`{arg}` names more than {MAX_ENDPOINTS} KES endpoints (the most kesgate probes)")
}

fn invalid(arg: &str) -> String {
    format!(
        "invalid ellipsis in `{arg}`: ranges are written {{N...M}} with N <= M, decimal or lowercase hexadecimal"
    )
}

/// FindEllipsesPatterns, step for step (including its habit of reading the
/// groups right to left).
fn find_patterns(arg: &str) -> Result<Vec<Pattern>, String> {
    let mut patterns = Vec::new();
    let Some(mut parts) = last_group(arg) else {
        return Err(invalid(arg));
    };
    let mut found = last_group(parts.0).is_some();
    let mut remaining = Some(parts);
    while found {
        patterns.push(Pattern {
            prefix: String::new(),
            suffix: parts.2.to_owned(),
            seq: parse_range(parts.1).map_err(|e| format!("{}: {e}", invalid(arg)))?,
        });
        match last_group(parts.0) {
            Some(next) => {
                parts = next;
                remaining = Some(next);
                found = has_ellipses(next.0);
            }
            None => {
                // MinIO drops the rest of the prefix here; so do we.
                remaining = None;
                break;
            }
        }
    }
    if let Some((prefix, group, suffix)) = remaining {
        patterns.push(Pattern {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            seq: parse_range(group).map_err(|e| format!("{}: {e}", invalid(arg)))?,
        });
    }
    let stray = |s: &str| s.contains('{') || s.contains('}');
    if patterns
        .iter()
        .any(|p| stray(&p.prefix) || stray(&p.suffix))
    {
        return Err(invalid(arg));
    }
    Ok(patterns)
}

/// parseEllipsesRange: decimal, else hexadecimal; zero-padded to the width of
/// the end when the start has a leading zero or the end starts with `0`.
fn parse_range(group: &str) -> Result<Vec<String>, String> {
    let inner = &group[1..group.len() - 1];
    let (a, b) = inner.split_once("...").ok_or("no `...` in the range")?;
    if b.contains("...") {
        return Err("more than one `...` in one range".into());
    }
    let mut hex = false;
    let mut number = |s: &str| -> Result<u64, String> {
        s.parse::<u64>().or_else(|_| {
            hex = true;
            u64::from_str_radix(s, 16).map_err(|_| format!("`{s}` is not a number"))
        })
    };
    let start = number(a)?;
    let end = number(b)?;
    if start > end {
        return Err(format!("range start {start} is bigger than its end {end}"));
    }
    if end - start > 10_000 {
        return Err(format!("range {{{a}...{b}}} is implausibly large"));
    }
    let padded = (a.starts_with('0') && a.len() > 1) || b.starts_with('0');
    let width = b.len();
    Ok((start..=end)
        .map(|i| match (padded, hex) {
            (true, true) => format!("{i:0width$x}"),
            (true, false) => format!("{i:0width$}"),
            (false, true) => format!("{i:x}"),
            (false, false) => format!("{i}"),
        })
        .collect())
}

impl Pattern {
    fn expand(&self) -> Vec<String> {
        self.seq
            .iter()
            .map(|v| format!("{}{v}{}", self.prefix, self.suffix))
            .collect()
    }
}

/// argExpander: the first pattern (the rightmost group) varies slowest, and
/// each combination lists the groups left to right.
fn cartesian(labels: &[Vec<String>]) -> Vec<Vec<String>> {
    match labels {
        [] => vec![],
        [only] => only.iter().map(|v| vec![v.clone()]).collect(),
        [first, rest @ ..] => {
            let tails = cartesian(rest);
            first
                .iter()
                .flat_map(|label| {
                    tails.iter().map(move |t| {
                        let mut r = t.clone();
                        r.push(label.clone());
                        r
                    })
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn plain_endpoint_is_kept() {
        assert_eq!(expand("https://kes:7373").unwrap(), ["https://kes:7373"]);
    }

    #[test]
    fn numeric_range() {
        assert_eq!(
            expand("https://kes{1...3}.example.net:7373").unwrap(),
            [
                "https://kes1.example.net:7373",
                "https://kes2.example.net:7373",
                "https://kes3.example.net:7373"
            ]
        );
    }

    #[test]
    fn zero_padding_follows_minio() {
        assert_eq!(expand("h{01...03}").unwrap(), ["h01", "h02", "h03"]);
        assert_eq!(expand("h{1...010}").unwrap()[0], "h001");
        assert_eq!(expand("h{8...10}").unwrap(), ["h8", "h9", "h10"]);
    }

    #[test]
    fn hexadecimal() {
        assert_eq!(expand("h{a...c}").unwrap(), ["ha", "hb", "hc"]);
        assert_eq!(expand("h{9...b}").unwrap(), ["h9", "ha", "hb"]);
    }

    #[test]
    fn two_ranges_rightmost_varies_slowest() {
        assert_eq!(
            expand("k{1...2}.z{1...2}").unwrap(),
            ["k1.z1", "k2.z1", "k1.z2", "k2.z2"]
        );
    }

    #[test]
    fn errors() {
        assert!(expand("h{3...1}").is_err());
        assert!(expand("h{1..3}").is_err());
        assert!(expand("h{A...C}").is_err());
        assert!(expand("h...x").is_err());
        assert!(expand("h{1...2}}").is_err());
    }
}
