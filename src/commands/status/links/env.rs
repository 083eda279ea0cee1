//! MinIO's environment: the env file that holds the KES variables, and the
//! fleet fingerprint of the MINIO_* set MinIO compares with its peers.

use std::fmt::Write as _;

use super::{Family, Link, Metric, Moment, Observed, Report};
use crate::commands::status::layout::{since, wrap};

pub(super) struct Env;

impl Link for Env {
    fn name(&self) -> &'static str {
        "env"
    }

    /// The fingerprint, then the env file: both are about what MinIO reads.
    fn text(&self, r: &Report) -> String {
        let mut s = match (&r.fingerprint, &r.fingerprint_note) {
            (Some(f), _) => format!(
                "\n{}\n",
                wrap(
                    &format!(
                        "fleet fingerprint: {f} (of the MINIO_* set MinIO compares: equal on all nodes)"
                    ),
                    "  "
                )
            ),
            (None, Some(note)) => {
                format!("\n{}\n", wrap(&format!("fleet fingerprint: {note}"), "  "))
            }
            (None, None) => String::new(),
        };
        if let Some(env) = &r.env_file {
            let owner = match (&env.owner, &env.mode) {
                (Some(o), Some(m)) => format!(" ({o} {m})"),
                _ => String::new(),
            };
            let state = if !env.exists {
                format!("missing{}", since(r, &format!("env {}", env.path)))
            } else if env.matches && env.minio_problems.is_empty() {
                "matches the configuration; MinIO would accept it".to_owned()
            } else {
                format!(
                    "needs attention (below){}",
                    since(r, &format!("env {}", env.path))
                )
            };
            let gap = if s.is_empty() { "\n" } else { "" };
            let _ = writeln!(s, "{gap}env file {}{owner}: {state}", env.path);
        }
        s
    }

    fn metrics<'a>(&self, r: &'a Report) -> Vec<Metric<'a>> {
        let mut families = Vec::new();
        if let Some(env) = &r.env_file {
            families.push(Metric {
                name: "kesgate_env_matches",
                help: "1 when MinIO's environment holds the configured KES variables and MinIO would accept them.",
                samples: vec![(
                    vec![],
                    f64::from(u8::from(env.matches && env.minio_problems.is_empty())),
                )],
            });
        }
        if let Some(f) = &r.fingerprint {
            families.push(Metric {
                name: "kesgate_minio_env_info",
                help: "The fleet fingerprint of MinIO's compared MINIO_* set (a keyed MAC; value 1): one value across a cluster's nodes.",
                samples: vec![(vec![("fingerprint", f.clone())], 1.0)],
            });
        }
        families
    }

    fn observe(&self, r: &Report, _: &Moment, out: &mut Vec<Observed>) {
        if let Some(env) = &r.env_file {
            let (state, sentence) = env.verdict();
            out.push(Observed {
                family: Family::Env,
                subject: env.path.clone(),
                state: state.into(),
                bad: state != "matches",
                sentence,
            });
        }
        if let Some(f) = &r.fingerprint {
            out.push(Observed {
                family: Family::Fingerprint,
                subject: String::new(),
                state: f.clone(),
                bad: false,
                sentence: format!(
                    "the fleet fingerprint of MinIO's MINIO_* set is now {f}: every node of the cluster must show the same (kesgate_minio_env_info), or MinIO refuses the odd one at its next start"
                ),
            });
        }
    }
}
