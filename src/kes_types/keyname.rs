//! KES key names, checked with the rule every KES generation accepts.

use std::fmt;

/// A key name valid on every KES release: `[A-Za-z0-9_-]`, 1–80 bytes,
/// no leading or trailing `-`, and not exactly `_` (2024+ is the strictest).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeyName(String);

impl KeyName {
    pub(crate) fn parse(name: &str) -> Result<KeyName, String> {
        if name.is_empty() || name.len() > 80 {
            return Err(format!(
                "key name `{}` must be 1 to 80 characters long (it has {})",
                crate::text::cut(name),
                name.len()
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "key name `{}` contains '{}'; KES allows only A-Z, a-z, 0-9, `-` and `_`",
                crate::text::cut(name),
                bad.escape_default()
            ));
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(format!(
                "key name `{name}` starts or ends with `-`, which KES 2024+ rejects"
            ));
        }
        if name == "_" {
            return Err("key name `_` is rejected by KES 2024+".into());
        }
        Ok(KeyName(name.to_owned()))
    }
}

/// Appended to the default key's name to make the fresh probe's name.
const ABSENT_SUFFIX: &str = "-kesgate-absent-probe";

impl KeyName {
    /// The name of a key that nobody ever creates, for the fresh probe: a
    /// describe of it needs our authorisation and an answer from the key
    /// store itself (404 fresh, 502 sealed — KES caches no absence). It
    /// starts with as much of this name as fits in 80 bytes, so that a
    /// policy granting describe of `<prefix>*` grants it too, and it is
    /// valid on every KES release (the suffix keeps the portable rule).
    pub(crate) fn absent_probe(&self) -> KeyName {
        let keep = self.0.len().min(80 - ABSENT_SUFFIX.len());
        KeyName(format!("{}{ABSENT_SUFFIX}", &self.0[..keep]))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::KeyName;

    #[test]
    fn absent_probe_is_valid_prefixed_and_never_the_key() {
        for name in ["a", "minio-default", &"k".repeat(59), &"k".repeat(80), "_a"] {
            let key = KeyName::parse(name).unwrap();
            let probe = key.absent_probe();
            assert!(KeyName::parse(probe.as_str()).is_ok(), "{probe}");
            assert_ne!(probe, key);
            let shared = name.len().min(59);
            assert!(probe.as_str().starts_with(&name[..shared]), "{probe}");
        }
        assert_eq!(
            KeyName::parse("minio-default")
                .unwrap()
                .absent_probe()
                .as_str(),
            "minio-default-kesgate-absent-probe"
        );
    }

    #[test]
    fn portable_rule() {
        for ok in [
            "a",
            "minio-backend-default-key",
            "A_9",
            "x-y_z",
            &"k".repeat(80),
            "_a",
            "a_",
        ] {
            assert!(KeyName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "_",
            "-a",
            "a-",
            "a b",
            "a/b",
            "ä",
            &"k".repeat(81),
            "a.b",
        ] {
            assert!(KeyName::parse(bad).is_err(), "{bad}");
        }
    }
}
