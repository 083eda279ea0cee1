//! Why KES cannot serve, from what KES and its Vault say together. KES
//! alone can only say "key store not reachable"; a KES whose Vault was
//! sealed (or down) when it started has exited and answers nothing; after
//! an unseal, 2024+ keeps saying 504 until its next key-store ping.

use super::Kind;
use super::kes_unit::UnitEvent;
use crate::logging::ids;
use crate::systemd::episode::Episode;
use crate::vault::{VaultState, VaultStatus};

/// One line for STATUS= and the journal. `kinds`: the state of each KES
/// endpoint that is not ready; `unit`: the watched local KES unit and its
/// last event, if any.
pub fn combine(
    kinds: &[Kind],
    vault: &VaultStatus,
    unit: &str,
    event: Option<&UnitEvent>,
) -> String {
    let kes_down = !kinds.is_empty() && kinds.iter().all(|k| *k == Kind::Unreachable);
    let kes_no_store = kinds.iter().any(|k| {
        matches!(
            k,
            Kind::KeyStoreUnreachable | Kind::KeyStoreUnavailable | Kind::ServerError
        )
    });
    let state = vault.state();
    match state {
        VaultState::Sealed | VaultState::NotInitialized | VaultState::Unreachable if kes_down => {
            let (why, todo) = match state {
                VaultState::Sealed => ("sealed", "unseal it"),
                VaultState::NotInitialized => ("not initialised", "initialise and unseal it"),
                _ => ("unreachable", "bring it back"),
            };
            let restart = match (unit.is_empty(), event) {
                (false, Some(UnitEvent::Failed(_) | UnitEvent::Stopped)) => {
                    format!(
                        "; {unit} has stopped and needs `systemctl restart {unit}` once Vault is unsealed"
                    )
                }
                (false, Some(UnitEvent::Starting)) => {
                    format!("; {unit}'s Restart= will start it again")
                }
                _ => String::new(),
            };
            format!(
                "KES is down because its Vault is {why} (KES exits when it cannot log in at start-up): {todo} ({}), then KES must be restarted{restart}",
                vault.describe()
            )
        }
        VaultState::Ok if kes_no_store => format!(
            "{}; KES has not noticed yet (next key-store check within 10 s)",
            vault.describe()
        ),
        VaultState::Ok if kes_down => format!("{}; KES itself is not reachable", vault.describe()),
        _ => vault.describe(),
    }
}

/// Once per change of the Vault's state (also across attempts of a
/// restarting unit), with its own MESSAGE_ID.
pub fn tell(vault: &VaultStatus, note: &str, episode: &Episode) {
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

    use crate::vault::sealed_example as sealed;

    #[test]
    fn kes_refused_and_vault_sealed_says_kes_must_be_restarted() {
        let t = combine(
            &[Kind::Unreachable],
            &sealed(),
            "kes.service",
            Some(&UnitEvent::Failed("exit-code".into())),
        );
        assert!(
            t.starts_with("KES is down because its Vault is sealed"),
            "{t}"
        );
        assert!(t.contains("1 of 2 unseal keys entered"), "{t}");
        assert!(t.contains("systemctl restart kes.service"), "{t}");
        let t = combine(
            &[Kind::Unreachable],
            &sealed(),
            "kes.service",
            Some(&UnitEvent::Starting),
        );
        assert!(t.contains("Restart= will start it again"), "{t}");
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
            t.contains("KES has not noticed yet (next key-store check within 10 s)"),
            "{t}"
        );
        let t = combine(&[Kind::KeyStoreUnreachable], &sealed(), "", None);
        assert_eq!(
            t,
            "Vault https://vault:8200 is sealed: 1 of 2 unseal keys entered"
        );
    }
}
