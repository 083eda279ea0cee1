//! The journal's account of a render: one entry per file, and what changed.

use super::{Layout, Rendered, Report};
use crate::logging;

impl Rendered {
    /// Tells the journal what this render did (or, `dry_run`, would do).
    pub(crate) fn tell(&self, dry_run: bool) {
        if let Layout::Split(p) = &self.layout
            && let Some(first) = self.files.first()
        {
            tracing::info!(
                "{} sets MINIO_CONFIG_ENV_FILE={}: the KES variables go there (MinIO reads it after systemd's file and its values win)",
                first.path.display(),
                p.display()
            );
        }
        for report in &self.files {
            report.tell(dry_run);
        }
    }
}

impl Report {
    fn tell(&self, dry_run: bool) {
        let path = self.path.display();
        if let Some((old, new)) = self.tightened {
            let verb = if dry_run {
                "would tighten it"
            } else {
                "tightened"
            };
            tracing::warn!(kesgate_env_file = %path, "{path} holds the KES API key but was mode {old:04o}: {verb} to {new:04o}");
        }
        for (name, why) in &self.removed {
            tracing::info!(kesgate_env_file = %path, "{path}: {} {name}: {why}", if dry_run { "would remove" } else { "removed" });
        }
        let names = self.changed.join(" ");
        if dry_run {
            if self.changed.is_empty() && self.removed.is_empty() {
                tracing::info!("{path}: up to date; nothing would change");
            } else {
                tracing::info!(
                    "{path}: would set {}",
                    if names.is_empty() { "nothing" } else { &names }
                );
            }
        } else if self.written {
            tracing::info!(message_id = logging::ids::ENV_CHANGED, kesgate_env_file = %path, kesgate_changed = %names, "{path} updated: {}", if names.is_empty() { "duplicates or stale lines removed".to_owned() } else { format!("set {names}") });
        } else {
            tracing::info!(message_id = logging::ids::ENV_UNCHANGED, kesgate_env_file = %path, "{path} already matches the configuration; not written");
        }
    }
}
