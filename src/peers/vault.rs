//! The Vault or OpenBao behind KES, read for diagnosis only: its
//! unauthenticated `GET /v1/sys/seal-status` and `GET /v1/sys/health`
//! (Vault and OpenBao answer alike). kesgate never authenticates to it and
//! holds no token. KES can only say "key store not reachable", and a KES
//! whose Vault was sealed at its start exits (docs/facts.md, "KES releases"); the Vault
//! itself says why.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::Serialize;

use crate::config::VaultSettings;
use crate::net::tls::{CaSource, Section, TlsSetupError, TrustPool};

const TIMEOUT: Duration = Duration::from_secs(3);
const BODY_LIMIT: usize = 16 * 1024;

/// One Vault node as kesgate last saw it; `status --json`'s `vault`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct VaultStatus {
    pub address: String,
    pub reachable: bool,
    pub initialized: Option<bool>,
    pub sealed: Option<bool>,
    /// Unseal keys entered so far (seal-status `progress`) …
    pub progress: Option<u64>,
    /// … of the threshold (`t`) out of `shares` (`n`).
    pub threshold: Option<u64>,
    pub shares: Option<u64>,
    pub version: Option<String>,
    pub standby: Option<bool>,
    /// Why it could not be asked (TLS or connection error, bad answer).
    pub error: Option<String>,
    /// It answered 200 without the fields every Vault and OpenBao send
    /// (`error` says which), or with numbers no Vault sends.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_vault: bool,
}

/// What a Vault node's answers mean for KES.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VaultState {
    Ok,
    Sealed,
    NotInitialized,
    Standby,
    Unreachable,
    /// It answered, but not as a Vault/OpenBao does (fields missing or
    /// inconsistent): nothing it says is believed.
    NotVault,
}

impl VaultState {
    /// KESGATE_VAULT_STATE, and the episode's state name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            VaultState::Ok => "ok",
            VaultState::Sealed => "sealed",
            VaultState::NotInitialized => "not_initialized",
            VaultState::Standby => "standby",
            VaultState::Unreachable => "unreachable",
            VaultState::NotVault => "not_vault",
        }
    }
}

impl VaultStatus {
    pub(crate) fn state(&self) -> VaultState {
        if self.not_vault {
            VaultState::NotVault
        } else if !self.reachable {
            VaultState::Unreachable
        } else if self.initialized == Some(false) {
            VaultState::NotInitialized
        } else if self.sealed == Some(true) {
            VaultState::Sealed
        } else if self.standby == Some(true) {
            VaultState::Standby
        } else {
            VaultState::Ok
        }
    }

    /// One line: "Vault https://vault:8200 is sealed: 1 of 2 unseal keys entered".
    pub(crate) fn describe(&self) -> String {
        let a = &self.address;
        match self.state() {
            VaultState::Ok => format!("Vault {a} is unsealed and active"),
            VaultState::Sealed => match (self.progress, self.threshold) {
                (Some(p), Some(t)) => {
                    format!("Vault {a} is sealed: {p} of {t} unseal keys entered")
                }
                _ => format!("Vault {a} is sealed"),
            },
            VaultState::NotInitialized => {
                format!(
                    "Vault {a} is not initialised (`bao operator init` / `vault operator init`)"
                )
            }
            VaultState::Standby => format!(
                "Vault {a} is a standby node: KES needs the active one (is there an active node?)"
            ),
            VaultState::Unreachable => format!(
                "Vault {a} is unreachable: {}",
                self.error.as_deref().unwrap_or("no answer")
            ),
            VaultState::NotVault => format!(
                "{a} does not answer like a Vault or OpenBao: {}",
                self.error.as_deref().unwrap_or("unexpected answer")
            ),
        }
    }
}

/// The unauthenticated Vault client: one address per poll, in turn.
pub(crate) struct VaultWatch {
    http: reqwest::Client,
    /// Records the chain each node presented (for its lifetimes).
    pool: Arc<TrustPool>,
    addresses: Vec<Url>,
    next: usize,
    last: Vec<Option<VaultStatus>>,
}

impl VaultWatch {
    /// A watch of `[vault]`: its CA added to the system roots, read as
    /// kesgate itself (KES, not MinIO, talks to Vault).
    pub(crate) async fn connect(settings: &VaultSettings) -> Result<VaultWatch, TlsSetupError> {
        let source = settings
            .ca
            .clone()
            .map_or(CaSource::None, CaSource::Configured);
        let pool = crate::net::tls::pool::build(Section::Vault, source, Default::default()).await?;
        VaultWatch::new(settings, pool)
    }

    fn new(settings: &VaultSettings, pool: Arc<TrustPool>) -> Result<VaultWatch, TlsSetupError> {
        let tls = crate::net::tls::builder(Section::Vault, pool.clone())?.with_no_client_auth();
        let http = crate::net::tls::http_client(Section::Vault, tls, TIMEOUT, TIMEOUT)?;
        Ok(VaultWatch {
            http,
            pool,
            last: vec![None; settings.addresses.len()],
            addresses: settings.addresses.clone(),
            next: 0,
        })
    }

    /// One request to the next address: seal-status while it was last seen
    /// sealed (or never), else health (which also tells sealed, and
    /// standby). At most one request per call, so a KES attempt costs at
    /// most one more request.
    pub(crate) async fn poll(&mut self) -> VaultStatus {
        let i = self.next % self.addresses.len();
        self.next = self.next.wrapping_add(1);
        let base = &self.addresses[i];
        let prev = self.last[i].clone();
        let want_health = prev
            .as_ref()
            .is_some_and(|p| p.reachable && !p.not_vault && p.sealed == Some(false));
        let mut st = prev.unwrap_or_else(|| VaultStatus {
            address: shown(base),
            ..VaultStatus::default()
        });
        if want_health {
            health(&self.http, base, &mut st).await;
        } else {
            seal_status(&self.http, base, &mut st).await;
        }
        self.last[i] = Some(st.clone());
        st
    }

    /// Every address, both requests (for `kesgate status`).
    /// The certificates `address`'s node presented over https (as
    /// verified), each with the role "vault"; none over http.
    pub(crate) fn certificates(&self, address: &str) -> Vec<crate::net::tls::SeenCert> {
        let Some(url) = self.addresses.iter().find(|u| shown(u) == address) else {
            return Vec::new();
        };
        self.pool
            .seen(&crate::net::tls::server_name(url))
            .into_iter()
            .map(|c| crate::net::tls::SeenCert { role: "vault", ..c })
            .collect()
    }

    pub(crate) async fn full(&mut self) -> Vec<VaultStatus> {
        let mut all = Vec::new();
        for (i, base) in self.addresses.iter().enumerate() {
            let mut st = VaultStatus {
                address: shown(base),
                ..VaultStatus::default()
            };
            seal_status(&self.http, base, &mut st).await;
            if st.reachable && !st.not_vault {
                health(&self.http, base, &mut st).await;
            }
            self.last[i] = Some(st.clone());
            all.push(st);
        }
        all
    }
}

fn shown(u: &Url) -> String {
    u.as_str().trim_end_matches('/').to_owned()
}

async fn get_json(http: &reqwest::Client, url: Url) -> Result<(u16, serde_json::Value), String> {
    let mut resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| crate::peers::kes::client::chain_text(&e))?;
    let status = resp.status().as_u16();
    let body = crate::net::tls::body_capped(&mut resp, BODY_LIMIT)
        .await
        .map_err(|e| crate::peers::kes::client::chain_text(&e))?;
    serde_json::from_slice(&body)
        .map(|v| (status, v))
        .map_err(|_| format!("HTTP {status}: not a Vault answer"))
}

async fn seal_status(http: &reqwest::Client, base: &Url, st: &mut VaultStatus) {
    let Ok(url) = base.join("v1/sys/seal-status") else {
        return;
    };
    match get_json(http, url).await {
        Ok((200, v)) => match read_seal_status(&v) {
            Ok(seen) => {
                let standby = if seen.sealed == Some(true) {
                    None
                } else {
                    st.standby
                };
                *st = VaultStatus {
                    address: std::mem::take(&mut st.address),
                    standby,
                    ..seen
                };
            }
            Err(why) => not_vault(st, format!("seal-status: {why}")),
        },
        Ok((status, _)) => unreachable_as(st, format!("seal-status answered HTTP {status}")),
        Err(e) => unreachable_as(st, e),
    }
}

/// Every Vault and OpenBao send `initialized` and `sealed`, and while
/// sealed `t` (threshold), `n` (shares) and `progress`, with
/// progress < t ≤ n. Anything else is not a Vault's answer.
fn read_seal_status(v: &serde_json::Value) -> Result<VaultStatus, String> {
    let flag = |name: &str| {
        v[name]
            .as_bool()
            .ok_or_else(|| format!("no boolean `{name}`"))
    };
    let initialized = flag("initialized")?;
    let sealed = flag("sealed")?;
    let (progress, threshold, shares) = (v["progress"].as_u64(), v["t"].as_u64(), v["n"].as_u64());
    if let (Some(p), Some(t), Some(n)) = (progress, threshold, shares)
        && (t > n || (initialized && t == 0) || (sealed && p >= t && t > 0))
    {
        return Err(format!("progress {p} of threshold {t} with {n} shares"));
    }
    Ok(VaultStatus {
        reachable: true,
        initialized: Some(initialized),
        sealed: Some(sealed),
        progress,
        threshold,
        shares,
        version: version(v),
        ..VaultStatus::default()
    })
}

/// The version as shown: peer text, cut and escaped.
fn version(v: &serde_json::Value) -> Option<String> {
    v["version"].as_str().map(crate::text::cut)
}

/// `standbyok` and `perfstandbyok`, so that a healthy standby answers 200;
/// 501 = not initialised, 503 = sealed, with the same JSON body.
async fn health(http: &reqwest::Client, base: &Url, st: &mut VaultStatus) {
    let Ok(url) = base.join("v1/sys/health?standbyok=true&perfstandbyok=true") else {
        return;
    };
    match get_json(http, url).await {
        Ok((200 | 429 | 472 | 473 | 501 | 503, v)) => {
            let (Some(initialized), Some(sealed)) =
                (v["initialized"].as_bool(), v["sealed"].as_bool())
            else {
                return not_vault(st, "health: no boolean `initialized` and `sealed`".into());
            };
            st.reachable = true;
            st.not_vault = false;
            st.error = None;
            st.initialized = Some(initialized);
            st.sealed = Some(sealed);
            st.standby = v["standby"].as_bool();
            st.version = version(&v).or(st.version.take());
        }
        Ok((status, _)) => unreachable_as(st, format!("health answered HTTP {status}")),
        Err(e) => unreachable_as(st, e),
    }
}

fn not_vault(st: &mut VaultStatus, why: String) {
    *st = VaultStatus {
        address: std::mem::take(&mut st.address),
        reachable: true,
        not_vault: true,
        error: Some(crate::text::cut(&why)),
        ..VaultStatus::default()
    };
}

fn unreachable_as(st: &mut VaultStatus, error: String) {
    *st = VaultStatus {
        address: std::mem::take(&mut st.address),
        error: Some(crate::text::cut(&error)),
        ..VaultStatus::default()
    };
}

/// A node sealed with 1 of 2 unseal keys entered (3 shares), for tests.
#[cfg(test)]
pub(crate) fn sealed_example() -> VaultStatus {
    VaultStatus {
        address: "https://vault:8200".into(),
        reachable: true,
        initialized: Some(true),
        sealed: Some(true),
        progress: Some(1),
        threshold: Some(2),
        shares: Some(3),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_as_an_operator_would() {
        let sealed = sealed_example();
        assert_eq!(sealed.state(), VaultState::Sealed);
        assert_eq!(
            sealed.describe(),
            "Vault https://vault:8200 is sealed: 1 of 2 unseal keys entered"
        );
        let uninit = VaultStatus {
            initialized: Some(false),
            sealed: Some(true),
            ..sealed.clone()
        };
        assert_eq!(uninit.state(), VaultState::NotInitialized);
        let down = VaultStatus {
            address: "https://vault:8200".into(),
            error: Some("connection refused".into()),
            ..Default::default()
        };
        assert_eq!(down.state(), VaultState::Unreachable);
        assert!(down.describe().ends_with("unreachable: connection refused"));
    }

    #[test]
    fn answers_without_a_vaults_fields_are_not_a_vault() {
        let read = |j: &str| read_seal_status(&serde_json::from_str(j).unwrap());
        assert!(read("{}").is_err());
        assert!(read(r#"{"sealed":false}"#).is_err());
        assert!(read(r#"{"initialized":"yes","sealed":false}"#).is_err());
        // Progress at or above the threshold while sealed, threshold above
        // the shares: no Vault says so.
        assert!(read(r#"{"initialized":true,"sealed":true,"t":2,"n":3,"progress":2}"#).is_err());
        assert!(read(r#"{"initialized":true,"sealed":true,"t":4,"n":3,"progress":0}"#).is_err());
        let ok = read(r#"{"initialized":true,"sealed":true,"t":2,"n":3,"progress":1,"version":"2.7\u001b[2J"}"#)
            .unwrap();
        assert_eq!(ok.state(), VaultState::Sealed);
        assert_eq!(ok.version.as_deref(), Some("2.7\\u{1b}[2J"));
        let unsealed =
            read(r#"{"initialized":true,"sealed":false,"t":1,"n":1,"progress":0}"#).unwrap();
        assert_eq!(unsealed.state(), VaultState::Ok);
    }
}
