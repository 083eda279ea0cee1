//! The Vault behind KES (`[vault]`): sealed or not, its active node.

use super::{Family, Link, Metric, Moment, Observed, Report};
use crate::commands::status::layout::{since, wrap};
use crate::peers::vault::VaultState;

pub(super) struct Vault;

impl Link for Vault {
    fn name(&self) -> &'static str {
        "vault"
    }

    /// Not looked at when kesgate's Vault client could not be set up, or
    /// no node told whether it is sealed.
    fn checked(&self, r: &Report) -> Option<bool> {
        if r.unchecked.contains_key(self.name()) {
            return Some(false);
        }
        r.vault.as_ref().map(|v| v.sealed.is_some())
    }

    fn text(&self, r: &Report) -> String {
        let Some(v) = &r.vault else {
            return String::new();
        };
        let version = v
            .version
            .as_deref()
            .map(|x| format!(" (version {x})"))
            .unwrap_or_default();
        let since = match v.state() {
            VaultState::Ok => String::new(),
            _ => since(r, &format!("vault {}", v.address)),
        };
        format!(
            "\n{}\n",
            wrap(&format!("vault: {}{version}{since}", v.describe()), "  ")
        )
    }

    fn metrics<'a>(&self, r: &'a Report) -> Vec<Metric<'a>> {
        let Some(v) = &r.vault else {
            return Vec::new();
        };
        vec![Metric {
            name: "kesgate_vault_sealed",
            help: "1 when the Vault behind KES is sealed (or not initialised), 0 when unsealed.",
            samples: v
                .sealed
                .map(|sealed| {
                    (
                        vec![("address", v.address.clone())],
                        f64::from(u8::from(sealed)),
                    )
                })
                .into_iter()
                .collect(),
        }]
    }

    fn observe(&self, r: &Report, _: &Moment, out: &mut Vec<Observed>) {
        if let Some(v) = &r.vault {
            let state = v.state();
            out.push(Observed {
                family: Family::Vault,
                subject: v.address.clone(),
                state: state.as_str().into(),
                bad: state != VaultState::Ok,
                sentence: v.describe(),
            });
        }
    }
}
