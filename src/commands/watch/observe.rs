//! A round's report reduced to named conditions (crate::commands::watch
//! ::conditions compares them with what the journal was told): a stable
//! state name and the operator's sentence per KES endpoint, the Vault,
//! each key, each certificate, the env file, the fleet fingerprint and the
//! configuration.

use std::time::Duration;

use crate::commands::status::Report;
use crate::commands::status::links::{self, Family, LINKS, Moment, Observed};

/// The conditions of `report`: the configuration's, then each link's
/// (crate::commands::status::links) in chain order. `config`:
/// `Err(sentence)` when the configuration did not load (then nothing else
/// is observed).
pub(super) fn observe(
    report: &Report,
    config: Result<(), String>,
    warn: Duration,
    now: i64,
) -> Vec<Observed> {
    let config_ok = config.is_ok();
    let mut out = vec![configuration(report, config)];
    if !config_ok {
        return out;
    }
    let at = Moment { now, warn };
    for link in LINKS {
        link.observe(report, &at, &mut out);
    }
    links::observe_unchecked(report, &mut out);
    out
}

fn configuration(report: &Report, config: Result<(), String>) -> Observed {
    match config {
        Ok(()) => Observed {
            family: Family::Config,
            subject: report.config.clone(),
            state: "valid".into(),
            bad: false,
            sentence: format!("{} loads again", report.config),
        },
        Err(sentence) => Observed {
            family: Family::Config,
            subject: report.config.clone(),
            state: "invalid".into(),
            bad: true,
            sentence,
        },
    }
}
