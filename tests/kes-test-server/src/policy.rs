//! KES policy matching per generation.

use crate::Generation;

#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub name: String,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub identities: Vec<String>,
}

impl Policy {
    pub fn new(name: &str, allow: &[&str], identities: &[&str]) -> Policy {
        Policy {
            name: name.into(),
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: vec![],
            identities: identities.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Allowed when no deny pattern matches and at least one allow pattern does.
pub fn allowed(policies: &[Policy], identity: &str, path: &str, generation: Generation) -> bool {
    let matches = |p: &String| match generation {
        Generation::V2023_02 | Generation::V2023_05 => glob(p.as_bytes(), path.as_bytes()),
        Generation::V2024 => prefix(p, path),
    };
    policies
        .iter()
        .filter(|p| p.identities.iter().any(|i| i == identity))
        .any(|p| !p.deny.iter().any(matches) && p.allow.iter().any(matches))
}

/// 2024+ (kes-go ≥ v0.2.1): a trailing `*` is a plain prefix; otherwise exact.
fn prefix(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(p) => path.starts_with(p),
        None => !pattern.is_empty() && pattern == path,
    }
}

/// Go's path.Match for `*` (any run without `/`) and `?`.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], name)
                || (!name.is_empty() && name[0] != b'/' && glob(pattern, &name[1..]))
        }
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&pattern[1..], &name[1..]),
        (Some(p), Some(c)) if p == c => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_and_prefix() {
        assert!(glob(b"/v1/key/create/*", b"/v1/key/create/k1"));
        assert!(!glob(b"/v1/key/*", b"/v1/key/create/k1"));
        assert!(prefix("/v1/key/*", "/v1/key/create/k1"));
        assert!(prefix("/v1/ready", "/v1/ready"));
        assert!(!prefix("/v1/ready", "/v1/ready/x"));
    }
}
