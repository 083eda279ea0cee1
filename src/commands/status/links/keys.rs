//! The configured keys: does KES have each?

use std::fmt::Write as _;

use super::{Family, Link, Metric, Moment, Observed, Report};

pub(super) struct Keys;

impl Link for Keys {
    fn name(&self) -> &'static str {
        "keys"
    }

    /// Looked at when KES was asked about every key (an endpoint ready).
    fn checked(&self, r: &Report) -> Option<bool> {
        (!r.keys.is_empty()).then(|| r.keys.iter().all(|k| k.present.is_some()))
    }

    fn text(&self, r: &Report) -> String {
        if r.keys.is_empty() {
            return String::new();
        }
        let keys: Vec<String> = r
            .keys
            .iter()
            .map(|k| {
                let state = match k.present {
                    Some(true) => "present",
                    Some(false) => "MISSING",
                    None => "unknown",
                };
                format!("{} {state}", k.name)
            })
            .collect();
        let mut s = String::new();
        let _ = writeln!(s, "keys: {}", keys.join(", "));
        s
    }

    /// How many are missing, claimed only as far as KES was asked: "0
    /// missing" about keys nobody asked for would be a check that did not
    /// run.
    fn metrics<'a>(&self, r: &'a Report) -> Vec<Metric<'a>> {
        let missing = r.keys.iter().filter(|k| k.present == Some(false)).count();
        if self.checked(r) != Some(true) && missing == 0 {
            return Vec::new();
        }
        vec![Metric {
            name: "kesgate_keys_missing",
            help: "How many configured keys KES does not have (unknown ones not counted).",
            samples: vec![(vec![], missing as f64)],
        }]
    }

    fn observe(&self, r: &Report, _: &Moment, out: &mut Vec<Observed>) {
        for k in &r.keys {
            let Some(present) = k.present else { continue };
            out.push(Observed {
                family: Family::Key,
                subject: k.name.clone(),
                state: if present { "present" } else { "missing" }.into(),
                bad: !present,
                sentence: if present {
                    format!("key {} exists on KES", k.name)
                } else {
                    format!(
                        "key {} is missing on KES; fix: restore it from a backup of KES's key store — a new key of that name cannot decrypt what the old one encrypted",
                        k.name
                    )
                },
            });
        }
    }
}
