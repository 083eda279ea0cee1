//! The configured buckets: bucket-default SSE-KMS with their key?

use std::fmt::Write as _;

use super::{Link, Report};

pub(super) struct Buckets;

impl Link for Buckets {
    fn name(&self) -> &'static str {
        "buckets"
    }

    /// Only with `[[buckets]]`; not looked at when MinIO could not be asked.
    fn checked(&self, r: &Report) -> Option<bool> {
        if r.unchecked.contains_key(self.name()) {
            return Some(false);
        }
        r.buckets.as_ref().map(|_| true)
    }

    fn text(&self, r: &Report) -> String {
        let Some(buckets) = &r.buckets else {
            return String::new();
        };
        let list: Vec<String> = buckets
            .iter()
            .map(|b| {
                let mark = if b.ok { "ok" } else { "WRONG" };
                format!("{} {} ({mark})", b.name, b.encryption)
            })
            .collect();
        let mut s = String::new();
        let _ = writeln!(s, "buckets: {}", list.join(", "));
        s
    }
}
