//! KES key names, checked with the rule every KES generation accepts.

use std::fmt;

/// A key name valid on every KES release: `[A-Za-z0-9_-]`, 1–80 bytes,
/// no leading or trailing `-`, and not exactly `_` (2024+ is the strictest).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(name: &str) -> Result<KeyName, String> {
        if name.is_empty() || name.len() > 80 {
            return Err(format!(
                "key name `{name}` must be 1 to 80 characters long (it has {})",
                name.len()
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "key name `{name}` contains {bad:?}; KES allows only A-Z, a-z, 0-9, `-` and `_`"
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

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::KeyName;

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
