//! The links of the chain as kesgate tells them. `gather` looks at each
//! link once, read-only, and fills the report; here each link says what it
//! found in every voice kesgate has: the block `status` prints, the metrics
//! the watch writes for node_exporter, the conditions the watch tells the
//! journal about, and whether kesgate could look at all. `status`'s text,
//! its `--prometheus` and the watch's conditions are loops over [`LINKS`],
//! so no link's rule is written twice.

mod buckets;
mod certificates;
mod env;
mod kes;
mod keys;
mod units;
mod vault;

use std::time::Duration;

use super::Report;
use crate::logging::ids;

/// The links in chain order: the order of `status`'s blocks, of the
/// metrics file and of a round's conditions.
pub(crate) const LINKS: [&dyn Link; 7] = [
    &units::Units,
    &kes::Kes,
    &certificates::Certificates,
    &vault::Vault,
    &env::Env,
    &keys::Keys,
    &buckets::Buckets,
];

/// One link of the chain, told from the report `gather` filled.
pub(crate) trait Link: Sync {
    /// Its name: `kesgate_link_checked{link="…"}`.
    fn name(&self) -> &'static str;

    /// Whether kesgate could look at it (`Some(false)`: it could not, and
    /// its other series are absent, not healthy); `None` when this host
    /// does not have it (no `[vault]`, no `[[buckets]]`). By default: not
    /// when `gather` wrote down why it could not look.
    fn checked(&self, r: &Report) -> Option<bool> {
        Some(!r.unchecked.contains_key(self.name()))
    }

    /// Whether the watch tells the journal when kesgate cannot look at it
    /// (its "not checked" condition).
    fn told_when_unchecked(&self) -> bool {
        true
    }

    /// Its block in `status`'s text (empty: nothing to show).
    fn text(&self, _r: &Report) -> String {
        String::new()
    }

    /// Its metric families.
    fn metrics<'a>(&self, _r: &'a Report) -> Vec<Metric<'a>> {
        Vec::new()
    }

    /// Its conditions, as the watch compares them with what the journal
    /// was told.
    fn observe(&self, _r: &Report, _at: &Moment, _out: &mut Vec<Observed>) {}
}

/// One metric family: its HELP, its TYPE (always gauge here) and samples.
pub(crate) struct Metric<'a> {
    pub name: &'a str,
    pub help: &'a str,
    pub samples: Vec<(Vec<(&'a str, String)>, f64)>,
}

/// When a round looks, and how close a certificate's end must be to be
/// told (`[watch] warn_before`).
pub(crate) struct Moment {
    pub now: i64,
    pub warn: Duration,
}

/// What a condition is about; each has its MESSAGE_ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
    Config,
    Vault,
    Kes,
    Key,
    Certificate,
    Env,
    Fingerprint,
    /// A link kesgate could not look at.
    Link,
}

impl Family {
    pub(crate) fn message_id(self) -> &'static str {
        match self {
            Family::Config => ids::WATCH_CONFIG,
            Family::Vault => ids::WATCH_VAULT,
            Family::Kes => ids::WATCH_KES,
            Family::Key => ids::WATCH_KEY,
            Family::Certificate => ids::WATCH_CERT,
            Family::Env => ids::WATCH_ENV,
            Family::Fingerprint => ids::WATCH_FINGERPRINT,
            Family::Link => ids::WATCH_LINK,
        }
    }

    /// KESGATE_WATCH, and the first word of a condition's name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Family::Config => "config",
            Family::Vault => "vault",
            Family::Kes => "kes",
            Family::Key => "key",
            Family::Certificate => "certificate",
            Family::Env => "env",
            Family::Fingerprint => "fingerprint",
            Family::Link => "link",
        }
    }
}

/// One condition as a round observed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Observed {
    pub family: Family,
    /// The endpoint, key, certificate, address or file it is about.
    pub subject: String,
    /// The state's stable name ("ready", "sealed", "missing", "soon", …).
    pub state: String,
    pub bad: bool,
    /// What the journal says when it changes to this state.
    pub sentence: String,
}

impl Observed {
    pub(crate) fn name(&self) -> String {
        format!("{} {}", self.family.as_str(), self.subject)
    }
}

/// Each link kesgate could not look at for a reason of its own (no bus,
/// its Vault client not set up, MinIO's env file not readable, MinIO not
/// answering: what `gather` wrote down), and its return. A link not looked
/// at because another is broken (the keys while no KES endpoint is ready)
/// is told with that one.
pub(crate) fn observe_unchecked(r: &Report, out: &mut Vec<Observed>) {
    for link in LINKS.iter().filter(|l| l.told_when_unchecked()) {
        if link.checked(r).is_none() {
            continue;
        }
        let name = link.name();
        out.push(match r.unchecked.get(name) {
            Some(why) => Observed {
                family: Family::Link,
                subject: name.into(),
                state: "cannot_look".into(),
                bad: true,
                sentence: format!(
                    "kesgate cannot check the {name} link of this host (its series are absent, not healthy): {why}"
                ),
            },
            None => Observed {
                family: Family::Link,
                subject: name.into(),
                state: "looks".into(),
                bad: false,
                sentence: format!("kesgate checks the {name} link of this host again"),
            },
        });
    }
}

/// `kesgate_link_checked`: one sample per link this host has, when the
/// configuration loaded (otherwise `kesgate_checked 0` says it all).
pub(crate) fn checked(r: &Report) -> Metric<'static> {
    Metric {
        name: "kesgate_link_checked",
        help: "1 when kesgate could look at this link of the chain, 0 when it could not (no system bus, its KES client not set up, the Vault or MinIO not answering, a key KES could not be asked about): that link's other series are then absent, not healthy; `kesgate status` says why.",
        samples: if r.checked {
            LINKS
                .iter()
                .filter_map(|l| {
                    l.checked(r)
                        .map(|c| (vec![("link", l.name().to_owned())], f64::from(u8::from(c))))
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}
