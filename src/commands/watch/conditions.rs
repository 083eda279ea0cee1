//! What the watch tells the journal: each round's report reduced to named
//! conditions (a stable state name per KES endpoint, the Vault, each key,
//! each certificate, the env file, the fleet fingerprint, the
//! configuration), compared with what the journal was last told. An entry
//! only for a change; the changes of one round that share a family and a
//! new state are one entry (three endpoints losing their key store at once
//! are one event); a KES key store that is down because the configured
//! Vault is sealed is told with the Vault, not again per endpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use super::memory::Memory;
use crate::commands::status::links::{Family, Observed};

/// One journal entry: a family's conditions that changed to one state.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub family: Family,
    pub state: String,
    pub bad: bool,
    pub subjects: Vec<String>,
    /// The states they were told in before.
    pub was: Vec<String>,
    pub text: String,
}

/// The state KES endpoints take while the configured Vault explains their
/// key store being down: never told on its own.
const EXPLAINED: &str = "vault";

/// The entries for this round's `observed` against `memory`, which is
/// updated to what is now told. `vault_window`: how long after the Vault
/// is back a KES key store that is still down counts as "not noticed yet"
/// (`[kes] key_retry_window`).
pub(super) fn compare(
    memory: &mut Memory,
    observed: &[Observed],
    vault_window: Duration,
    now: i64,
) -> Vec<Entry> {
    let vault = observed.iter().find(|o| o.family == Family::Vault);
    let settling = settling(memory, vault, vault_window, now);
    let mut explained = Vec::new();
    let mut groups: BTreeMap<(Family, String), Entry> = BTreeMap::new();
    for o in observed {
        let name = o.name();
        let before = memory.told.get(&name).cloned();
        let explained_now = vault.is_some()
            && settling
            && o.family == Family::Kes
            && o.state.starts_with("keystore_");
        let state = if explained_now {
            explained.push(o.subject.clone());
            EXPLAINED.to_owned()
        } else {
            o.state.clone()
        };
        let silent = match &before {
            _ if explained_now => true,
            Some(b) if *b == state => true,
            // Back with the Vault: its entry said so.
            Some(b) if b == EXPLAINED && !o.bad => true,
            // First sight: a baseline, told only when something is wrong.
            None => !o.bad,
            Some(_) => false,
        };
        if before.as_deref() != Some(state.as_str()) {
            memory.since.insert(name.clone(), now);
        }
        memory.told.insert(name, state.clone());
        if silent {
            continue;
        }
        let entry = groups
            .entry((o.family, state.clone()))
            .or_insert_with(|| Entry {
                family: o.family,
                state: state.clone(),
                bad: o.bad,
                subjects: Vec::new(),
                was: Vec::new(),
                text: String::new(),
            });
        entry.subjects.push(o.subject.clone());
        if let Some(b) = before {
            entry.was.push(b);
        }
        if !entry.text.is_empty() {
            entry.text.push_str("; ");
        }
        entry.text.push_str(&o.sentence);
    }
    forget_gone_endpoints(memory, observed);
    if !explained.is_empty()
        && let Some(v) = vault
        && let Some(entry) = groups.get_mut(&(Family::Vault, v.state.clone()))
    {
        entry.text.push_str(&if v.bad {
            format!(
                "; meanwhile KES {} cannot reach its key store",
                explained.join(", ")
            )
        } else {
            format!(
                "; KES {} serves again after its next key-store health check (up to [kes] key_retry_window)",
                explained.join(", ")
            )
        });
    }
    groups.into_values().collect()
}

/// Whether KES endpoints' key-store troubles are the Vault's doing, to be
/// told with it: the Vault is down, or came back less than `window` ago
/// (KES needs its next health check). Keeps when it came back.
fn settling(memory: &mut Memory, vault: Option<&Observed>, window: Duration, now: i64) -> bool {
    match vault {
        Some(v) if v.bad => memory.vault_back_at = None,
        Some(v) => {
            if memory.told.get(&v.name()).is_some_and(|b| b != &v.state) {
                memory.vault_back_at = Some(now);
            }
        }
        None => memory.vault_back_at = None,
    }
    vault.is_some_and(|v| v.bad)
        || memory
            .vault_back_at
            .is_some_and(|t| now.saturating_sub(t) < window.as_secs() as i64)
}

/// Endpoints no longer configured are forgotten (when the configuration
/// loaded: otherwise none was looked at).
fn forget_gone_endpoints(memory: &mut Memory, observed: &[Observed]) {
    let kes_names: Vec<&str> = observed
        .iter()
        .filter(|o| o.family == Family::Kes)
        .map(|o| o.subject.as_str())
        .collect();
    if !kes_names.is_empty() {
        let kept = |name: &String| {
            name.strip_prefix("kes ")
                .is_none_or(|endpoint| kes_names.contains(&endpoint))
        };
        memory.told.retain(|name, _| kept(name));
        memory.since.retain(|name, _| kept(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::watch::observe::observe;

    const WINDOW: Duration = Duration::from_secs(30);

    fn o(family: Family, subject: &str, state: &str, bad: bool) -> Observed {
        Observed {
            family,
            subject: subject.into(),
            state: state.into(),
            bad,
            sentence: format!("{subject} is {state}"),
        }
    }

    fn healthy(vault: bool) -> Vec<Observed> {
        let mut v = vec![o(
            Family::Config,
            "/etc/kesgate/kesgate.toml",
            "valid",
            false,
        )];
        if vault {
            v.push(o(Family::Vault, "http://vault:8200", "ok", false));
        }
        v.push(o(Family::Kes, "https://a:7373", "ready", false));
        v.push(o(Family::Kes, "https://b:7373", "ready", false));
        v.push(o(Family::Key, "k", "present", false));
        v.push(o(Family::Fingerprint, "", "f1", false));
        v
    }

    fn sealed(kes_state: &str) -> Vec<Observed> {
        let mut v = healthy(true);
        v[1] = o(Family::Vault, "http://vault:8200", "sealed", true);
        v[2] = o(Family::Kes, "https://a:7373", kes_state, true);
        v[3] = o(Family::Kes, "https://b:7373", kes_state, true);
        v
    }

    fn states(entries: &[Entry]) -> Vec<(Family, &str)> {
        entries
            .iter()
            .map(|e| (e.family, e.state.as_str()))
            .collect()
    }

    #[test]
    fn a_first_round_tells_only_what_is_wrong() {
        let mut m = Memory::default();
        assert_eq!(compare(&mut m, &healthy(true), WINDOW, 0), vec![]);
        let mut m = Memory::default();
        let mut v = healthy(false);
        v[3] = o(Family::Key, "k", "missing", true);
        assert_eq!(
            states(&compare(&mut m, &v, WINDOW, 0)),
            [(Family::Key, "missing")]
        );
        // Told once: the same state again is silent.
        assert_eq!(compare(&mut m, &v, WINDOW, 60), vec![]);
    }

    #[test]
    fn a_sealed_vault_is_one_entry_and_its_unseal_one_more() {
        let mut m = Memory::default();
        compare(&mut m, &healthy(true), WINDOW, 0);
        let e = compare(&mut m, &sealed("keystore_unreachable"), WINDOW, 60);
        assert_eq!(states(&e), [(Family::Vault, "sealed")]);
        assert!(
            e[0].text
                .contains("KES https://a:7373, https://b:7373 cannot reach its key store"),
            "{}",
            e[0].text
        );
        assert_eq!(
            compare(&mut m, &sealed("keystore_unreachable"), WINDOW, 120),
            vec![]
        );
        // Unsealed; KES has not noticed yet (its health check): one entry.
        let mut back = sealed("keystore_unreachable");
        back[1] = o(Family::Vault, "http://vault:8200", "ok", false);
        let e = compare(&mut m, &back, WINDOW, 180);
        assert_eq!(states(&e), [(Family::Vault, "ok")]);
        // KES serves again a round later: nothing more to tell.
        assert_eq!(compare(&mut m, &healthy(true), WINDOW, 240), vec![]);
    }

    #[test]
    fn a_key_store_still_down_after_the_window_is_told() {
        let mut m = Memory::default();
        compare(&mut m, &healthy(true), WINDOW, 0);
        compare(&mut m, &sealed("keystore_unreachable"), WINDOW, 60);
        let mut back = sealed("keystore_unreachable");
        back[1] = o(Family::Vault, "http://vault:8200", "ok", false);
        assert_eq!(
            states(&compare(&mut m, &back, WINDOW, 120)),
            [(Family::Vault, "ok")]
        );
        let e = compare(&mut m, &back, WINDOW, 180);
        assert_eq!(states(&e), [(Family::Kes, "keystore_unreachable")]);
        assert_eq!(e[0].subjects, ["https://a:7373", "https://b:7373"]);
        assert_eq!(e[0].was, ["vault", "vault"]);
        let e = compare(&mut m, &healthy(true), WINDOW, 240);
        assert_eq!(states(&e), [(Family::Kes, "ready")]);
    }

    #[test]
    fn without_vault_endpoints_changing_alike_are_one_entry() {
        let mut m = Memory::default();
        compare(&mut m, &healthy(false), WINDOW, 0);
        let mut v = healthy(false);
        v[1] = o(Family::Kes, "https://a:7373", "keystore_unreachable", true);
        v[2] = o(Family::Kes, "https://b:7373", "keystore_unreachable", true);
        let e = compare(&mut m, &v, WINDOW, 60);
        assert_eq!(states(&e), [(Family::Kes, "keystore_unreachable")]);
        assert_eq!(e[0].subjects.len(), 2);
        assert!(e[0].bad);
        let e = compare(&mut m, &healthy(false), WINDOW, 120);
        assert_eq!(states(&e), [(Family::Kes, "ready")]);
        assert!(!e[0].bad);
    }

    #[test]
    fn a_fingerprint_is_told_when_it_changes_only() {
        let mut m = Memory::default();
        compare(&mut m, &healthy(false), WINDOW, 0);
        let mut v = healthy(false);
        v[4] = o(Family::Fingerprint, "", "f2", false);
        let e = compare(&mut m, &v, WINDOW, 60);
        assert_eq!(states(&e), [(Family::Fingerprint, "f2")]);
        assert_eq!(e[0].was, ["f1"]);
        assert_eq!(compare(&mut m, &v, WINDOW, 120), vec![]);
    }

    #[test]
    fn a_kes_client_that_cannot_be_set_up_is_told_once() {
        let mut r = crate::commands::status::Report::empty("/etc/kesgate/kesgate.toml");
        let day = Duration::from_secs(86_400);
        let mut m = Memory::default();
        compare(&mut m, &observe(&r, Ok(()), day, 0), WINDOW, 0);
        r.kes_client_error = Some("KES client: /etc/kesgate/ca.pem: no certificate".into());
        let e = compare(&mut m, &observe(&r, Ok(()), day, 0), WINDOW, 60);
        assert_eq!(states(&e), [(Family::Kes, "client_setup")]);
        assert_eq!(
            compare(&mut m, &observe(&r, Ok(()), day, 0), WINDOW, 120),
            vec![]
        );
        // A configuration that does not load forgets no endpoint.
        m.told.insert("kes https://a:7373".into(), "ready".into());
        compare(&mut m, &observe(&r, Err("bad".into()), day, 0), WINDOW, 180);
        assert!(m.told.contains_key("kes https://a:7373"));
    }

    #[test]
    fn an_endpoint_no_longer_configured_is_forgotten() {
        let mut m = Memory::default();
        compare(&mut m, &healthy(false), WINDOW, 0);
        let mut v = healthy(false);
        v.remove(2);
        compare(&mut m, &v, WINDOW, 60);
        assert!(!m.told.contains_key("kes https://b:7373"));
        assert!(m.told.contains_key("kes https://a:7373"));
    }
}
