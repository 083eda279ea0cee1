//! Which KES API generation a server speaks, from what it answers (facts in
//! docs/facts.md, "KES releases"): a 2023-02 server has no `/v1/ready` (501); the others
//! send their release name as `version`; failing that, 2024+ sends
//! `Content-Type: application/json` and 2023 adds `; charset=utf-8`.

/// The first release of the 2024+ API (the rewrite).
const FIRST_2024_RELEASE: &str = "2023-10-24T20-26-51Z";
/// The first release with /v1/ready (the 2023-05 API).
const FIRST_2023_05_RELEASE: &str = "2023-05-02T22-48-10Z";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Generation {
    V2023_02,
    V2023_05,
    V2024,
}

impl Generation {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Generation::V2023_02 => "2023-02",
            Generation::V2023_05 => "2023-05",
            Generation::V2024 => "2024+",
        }
    }
}

/// `has_ready`: whether `/v1/ready` exists; `version` and `content_type`
/// from a `/v1/status` (or `/version`) answer.
pub(crate) fn detect(
    has_ready: bool,
    version: Option<&str>,
    content_type: Option<&str>,
) -> Option<Generation> {
    if !has_ready {
        return Some(Generation::V2023_02);
    }
    if let Some(v) = version.filter(|v| is_release_name(v)) {
        // Release names sort as their dates.
        return Some(if v >= FIRST_2024_RELEASE {
            Generation::V2024
        } else {
            Generation::V2023_05
        });
    }
    match content_type.map(|c| c.trim().to_ascii_lowercase()) {
        Some(c) if c == "application/json" => Some(Generation::V2024),
        Some(c) if c.starts_with("application/json;") => Some(Generation::V2023_05),
        _ => None,
    }
}

/// The generation a release name alone says (release names sort as their
/// dates): for a server whose probe learned nothing (it answered 5xx)
/// but whose `/version` did.
pub(crate) fn by_release(version: &str) -> Option<Generation> {
    is_release_name(version).then(|| {
        if version >= FIRST_2024_RELEASE {
            Generation::V2024
        } else if version >= FIRST_2023_05_RELEASE {
            Generation::V2023_05
        } else {
            Generation::V2023_02
        }
    })
}

/// `YYYY-MM-DDTHH-MM-SSZ`, as KES names its releases.
fn is_release_name(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 | 13 | 16 => *c == b'-',
            10 => *c == b'T',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_name_alone_says_its_generation() {
        assert_eq!(
            by_release("2023-02-15T14-54-37Z"),
            Some(Generation::V2023_02)
        );
        assert_eq!(
            by_release("2023-05-02T22-48-10Z"),
            Some(Generation::V2023_05)
        );
        assert_eq!(
            by_release("2023-10-03T00-48-37Z"),
            Some(Generation::V2023_05)
        );
        assert_eq!(by_release("2025-03-12T09-35-18Z"), Some(Generation::V2024));
        assert_eq!(by_release("v0.22.3"), None);
    }

    #[test]
    fn generations_as_real_servers_answer() {
        use Generation::*;
        assert_eq!(
            detect(false, Some("2023-02-15T14-54-37Z"), None),
            Some(V2023_02)
        );
        assert_eq!(
            detect(true, Some("2023-05-02T22-48-10Z"), None),
            Some(V2023_05)
        );
        assert_eq!(
            detect(true, Some("2023-10-03T00-48-37Z"), None),
            Some(V2023_05)
        );
        assert_eq!(
            detect(true, Some("2023-10-24T20-26-51Z"), None),
            Some(V2024)
        );
        assert_eq!(
            detect(true, Some("2025-03-12T09-35-18Z"), None),
            Some(V2024)
        );
        // A build with another version string: the content type tells.
        assert_eq!(
            detect(true, Some("dev"), Some("application/json")),
            Some(V2024)
        );
        assert_eq!(
            detect(true, Some("dev"), Some("application/json; charset=utf-8")),
            Some(V2023_05)
        );
        assert_eq!(detect(true, None, None), None);
    }
}
