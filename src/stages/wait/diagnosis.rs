//! Why KES cannot serve, from what KES and its Vault say together. KES
//! alone can only say "key store not reachable"; a KES whose Vault was
//! sealed (or down) when it started has exited and answers nothing; after
//! an unseal, 2024+ keeps saying 504 until its next key-store ping.

use super::Kind;
use super::kes_unit::UnitEvent;
use crate::host::systemd::episode::Episode;
use crate::logging::ids;
use crate::peers::vault::{VaultState, VaultStatus};

/// What KES and its Vault say together: one line for STATUS= and the
/// journal, and the fix a timed-out wait gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Diagnosis {
    pub text: String,
    pub fix: &'static str,
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// `kinds`: the state of each KES endpoint that is not ready; `unit`: the
/// watched local KES unit and its last event, if any.
pub(crate) fn combine(
    kinds: &[Kind],
    vault: &VaultStatus,
    unit: &str,
    event: Option<&UnitEvent>,
) -> Diagnosis {
    let kes_down = !kinds.is_empty() && kinds.iter().all(|k| *k == Kind::Unreachable);
    let kes_no_store = kinds.iter().any(|k| {
        matches!(
            k,
            Kind::KeyStoreUnreachable | Kind::KeyStoreUnavailable | Kind::ServerError
        )
    });
    let state = vault.state();
    let said = vault.describe();
    let (text, fix) = match state {
        VaultState::Sealed | VaultState::NotInitialized | VaultState::Unreachable if kes_down => {
            kes_exited(state, &said, unit, event)
        }
        VaultState::Ok if kes_no_store => (
            format!("{said}; KES has not noticed yet (next key-store check within 10 s)"),
            "KES checks its key store every 10 s: raise [wait] timeout above that, or restart KES",
        ),
        VaultState::Ok if kes_down => (
            format!("{said}; KES itself is not reachable"),
            "start KES (e.g. `systemctl start kes`) and check its address and port: its Vault is fine",
        ),
        _ => (said, vault_fix(state)),
    };
    Diagnosis { text, fix }
}

/// KES down because its Vault was sealed, not initialised or unreachable
/// when it started (KES exits when it cannot log in): what to do with the
/// Vault, then KES, and what its unit will do.
fn kes_exited(
    state: VaultState,
    said: &str,
    unit: &str,
    event: Option<&UnitEvent>,
) -> (String, &'static str) {
    let (why, todo, fix) = match state {
        VaultState::Sealed => (
            "sealed",
            "unseal it",
            "unseal Vault, then restart KES (e.g. `systemctl restart kes`); or raise [wait] timeout",
        ),
        VaultState::NotInitialized => (
            "not initialised",
            "initialise and unseal it",
            "initialise and unseal Vault, then restart KES (e.g. `systemctl restart kes`)",
        ),
        _ => (
            "unreachable",
            "bring it back",
            "bring Vault back (check its address and network), then restart KES (e.g. `systemctl restart kes`)",
        ),
    };
    let restart = match (unit.is_empty(), event) {
        (false, Some(UnitEvent::Failed(_) | UnitEvent::Stopped)) => {
            format!(
                "; {unit} has stopped and needs `systemctl restart {unit}` once Vault is unsealed"
            )
        }
        (false, Some(UnitEvent::Starting)) => format!("; {unit}'s Restart= will start it again"),
        _ => String::new(),
    };
    (
        format!(
            "KES is down because its Vault is {why} (KES exits when it cannot log in at start-up): {todo} ({said}), then KES must be restarted{restart}"
        ),
        fix,
    )
}

/// The fix for the Vault's own state, when KES's does not add to it.
fn vault_fix(state: VaultState) -> &'static str {
    match state {
        VaultState::Ok => "its Vault is fine: see what KES says above, or raise [wait] timeout",
        VaultState::Sealed => "unseal Vault (e.g. `bao operator unseal`), or raise [wait] timeout",
        VaultState::NotInitialized => {
            "initialise and unseal Vault (`bao operator init`, then `bao operator unseal`)"
        }
        VaultState::Standby => "make a Vault node active, or point KES at the active node",
        VaultState::Unreachable => {
            "bring Vault back (check its address and network), or raise [wait] timeout"
        }
        VaultState::NotVault => {
            "point [vault] address at the Vault/OpenBao that KES uses (its `api_addr`)"
        }
    }
}

/// Once per change of the Vault's state (also across attempts of a
/// restarting unit), with its own MESSAGE_ID.
pub(super) fn tell(vault: &VaultStatus, note: &Diagnosis, episode: &Episode) {
    let state = vault.state().as_str();
    if !episode.changed(&format!("vault {}", vault.address), state) {
        tracing::debug!("{note}");
        return;
    }
    if vault.state() == VaultState::Ok {
        tracing::info!(message_id = ids::VAULT_STATE, kesgate_vault = %vault.address, kesgate_vault_state = state, "{note}");
    } else {
        tracing::warn!(message_id = ids::VAULT_STATE, kesgate_vault = %vault.address, kesgate_vault_state = state, "{note}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::peers::vault::sealed_example as sealed;

    /// "unsealed" holds "sealed": the fix comes from the state, not the text.
    #[test]
    fn an_unsealed_vault_behind_a_down_kes_says_start_kes() {
        let ok = VaultStatus {
            sealed: Some(false),
            progress: Some(0),
            ..sealed()
        };
        let d = combine(&[Kind::Unreachable], &ok, "", None);
        assert!(d.text.ends_with("KES itself is not reachable"), "{d}");
        assert!(d.fix.starts_with("start KES"), "{d:?}");
        assert!(!d.fix.contains("unseal"), "{d:?}");
    }

    #[test]
    fn kes_refused_and_vault_sealed_says_kes_must_be_restarted() {
        let t = combine(
            &[Kind::Unreachable],
            &sealed(),
            "kes.service",
            Some(&UnitEvent::Failed("exit-code".into())),
        );
        assert!(
            t.text
                .starts_with("KES is down because its Vault is sealed"),
            "{t}"
        );
        assert!(t.fix.starts_with("unseal Vault, then restart KES"), "{t:?}");
        assert!(t.text.contains("1 of 2 unseal keys entered"), "{t}");
        assert!(t.text.contains("systemctl restart kes.service"), "{t}");
        let t = combine(
            &[Kind::Unreachable],
            &sealed(),
            "kes.service",
            Some(&UnitEvent::Starting),
        );
        assert!(t.text.contains("Restart= will start it again"), "{t}");
    }

    #[test]
    fn kes_504_and_vault_fine_says_kes_has_not_noticed() {
        let ok = VaultStatus {
            sealed: Some(false),
            progress: Some(0),
            ..sealed()
        };
        let t = combine(&[Kind::KeyStoreUnreachable], &ok, "", None);
        assert!(
            t.text
                .contains("KES has not noticed yet (next key-store check within 10 s)"),
            "{t}"
        );
        let t = combine(&[Kind::KeyStoreUnreachable], &sealed(), "", None);
        assert_eq!(
            t.text,
            "Vault https://vault:8200 is sealed: 1 of 2 unseal keys entered"
        );
        assert!(t.fix.starts_with("unseal Vault"), "{t:?}");
    }
}
