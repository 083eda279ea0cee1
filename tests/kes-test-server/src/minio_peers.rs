//! How the nodes of a distributed MinIO compare themselves at start-up
//! (MinIO's cmd/bootstrap-peer-server.go, docs/facts.md "MinIO's KES
//! client"): each node asks its peers for their system configuration — the
//! number of endpoints, the command lines, and a hash of every `MINIO_*`
//! variable of the process environment (after MINIO_CONFIG_ENV_FILE was
//! applied) minus a skip list — and compares it with its own, logging what
//! differs. A node waits until at least half (integer division) of its
//! remote peers match. Written from MinIO's code, not
//! from kesgate's (src/fleet.rs judges the same set; this judges kesgate).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The variables that may differ between nodes (MinIO's `skipEnvs`).
pub const SKIP: [&str; 11] = [
    "MINIO_OPTS",
    "MINIO_CERT_PASSWD",
    "MINIO_SERVER_DEBUG",
    "MINIO_DSYNC_TRACE",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "MINIO_ACCESS_KEY",
    "MINIO_SECRET_KEY",
    "MINIO_OPERATOR_VERSION",
    "MINIO_VSPHERE_PLUGIN_VERSION",
    "MINIO_CI_CD",
];

/// The route a node's peers verify it through.
pub const VERIFY: &str = "/minio/bootstrap/v1/verify";

/// MinIO's `ServerSystemConfig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemConfig {
    pub n_endpoints: usize,
    pub cmd_lines: Vec<String>,
    /// Name → a hash of its value (the values never cross the wire).
    pub minio_env: BTreeMap<String, String>,
}

impl SystemConfig {
    /// A node's configuration from its environment (every variable; only
    /// `MINIO_*` outside the skip list count, an empty one too).
    pub fn of(
        env: impl IntoIterator<Item = (String, String)>,
        cmd_lines: Vec<String>,
        n_endpoints: usize,
    ) -> SystemConfig {
        let minio_env = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("MINIO_") && !SKIP.contains(&k.as_str()))
            .map(|(k, v)| {
                let digest = ring::digest::digest(&ring::digest::SHA256, v.as_bytes());
                let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                (k, hex)
            })
            .collect();
        SystemConfig {
            n_endpoints,
            cmd_lines,
            minio_env,
        }
    }

    /// MinIO's `Diff`: `self` is the asking node's own, `other` a peer's
    /// (missing: set here, not there; extra: set there, not here).
    pub fn diff(&self, other: &SystemConfig) -> Result<(), String> {
        if self.n_endpoints != other.n_endpoints {
            return Err(format!(
                "Expected number of endpoints {}, seen {}",
                self.n_endpoints, other.n_endpoints
            ));
        }
        for (i, line) in other.cmd_lines.iter().enumerate() {
            let mine = self
                .cmd_lines
                .get(i)
                .map(String::as_str)
                .unwrap_or_default();
            if line != mine {
                return Err(format!(
                    "Expected command line argument {line}, seen {mine}"
                ));
            }
        }
        if self.minio_env == other.minio_env {
            return Ok(());
        }
        let missing: Vec<&str> = self
            .minio_env
            .keys()
            .filter(|k| !other.minio_env.contains_key(*k))
            .map(String::as_str)
            .collect();
        let mismatching: Vec<&str> = self
            .minio_env
            .iter()
            .filter(|(k, v)| other.minio_env.get(*k).is_some_and(|o| o != *v))
            .map(|(k, _)| k.as_str())
            .collect();
        let extra: Vec<&str> = other
            .minio_env
            .keys()
            .filter(|k| !self.minio_env.contains_key(*k))
            .map(String::as_str)
            .collect();
        let mut msg =
            "Expected MINIO_* environment name and values across all servers to be same: "
                .to_owned();
        for (what, names) in [
            ("Missing", missing),
            ("Mismatching", mismatching),
            ("Extra", extra),
        ] {
            if !names.is_empty() {
                msg.push_str(&format!(
                    "{what} environment values: [{}]. ",
                    names.join(" ")
                ));
            }
        }
        Err(msg.trim_end().to_owned())
    }
}

/// MinIO's wait: it goes on while fewer than `remotes / 2` (integer
/// division) of its remote peers matched.
pub fn enough(matching: usize, remotes: usize) -> bool {
    matching >= remotes / 2
}

/// MinIO's ellipses in one argument: every `{a...b}` (decimal) expanded,
/// left to right (`http://node{1...4}:9000/data` → four endpoints).
pub fn expand(arg: &str) -> Vec<String> {
    let Some(open) = arg.find('{') else {
        return vec![arg.to_owned()];
    };
    let Some(close) = arg[open..].find('}').map(|c| open + c) else {
        return vec![arg.to_owned()];
    };
    let Some((a, b)) = arg[open + 1..close].split_once("...") else {
        return vec![arg.to_owned()];
    };
    let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else {
        return vec![arg.to_owned()];
    };
    (a..=b)
        .flat_map(|n| expand(&format!("{}{n}{}", &arg[..open], &arg[close + 1..])))
        .collect()
}
