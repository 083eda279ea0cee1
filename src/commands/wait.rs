//! `kesgate wait`: until KES is ready, as MinIO will need it.

use std::path::Path;

use super::Outcome;
use crate::chain::{self, Slice};
use crate::config::Settings;
use crate::error::Error;
use crate::host::systemd::episode::Episode;
use crate::host::systemd::notify::Notifier;

pub(crate) async fn run(
    config: &Path,
    notifier: &Notifier,
    episode: &Episode,
) -> Result<Outcome, Error> {
    let settings = Settings::load(config)?;
    let done = chain::run(Slice::Wait, &settings, notifier, episode).await?;
    notifier.ready(&done.summary);
    Ok(Outcome::Done)
}
