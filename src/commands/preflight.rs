//! `kesgate preflight` (minio.service's ExecStartPre): the gate before
//! every MinIO (re)start. Never READY=1: that is MinIO's to send. Without
//! a configuration kesgate is not in charge yet and MinIO starts as it did
//! before the package was installed.

use std::path::Path;

use super::Outcome;
use crate::chain::{self, Slice};
use crate::config::Settings;
use crate::error::Error;
use crate::host::systemd::episode::Episode;
use crate::host::systemd::notify::Notifier;

pub async fn run(config: &Path, notifier: &Notifier, episode: &Episode) -> Result<Outcome, Error> {
    if let Err(e) = std::fs::symlink_metadata(config)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        tracing::info!(
            "{} does not exist: kesgate is not configured; MinIO starts without the KES check",
            config.display()
        );
        notifier.status(&format!("not configured ({} missing)", config.display()));
        return Ok(Outcome::Done);
    }
    let settings = Settings::load(config)?;
    let done = chain::run(Slice::Preflight, &settings, notifier, episode).await?;
    notifier.status(&done.summary);
    Ok(Outcome::Done)
}
