//! `kesgate keys` (kesgate-keys.service): every `[[keys]]` present on KES.

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
    let done = chain::run(Slice::Keys, &settings, notifier, episode).await?;
    tracing::info!("{}", done.summary);
    notifier.ready(&done.summary);
    Ok(Outcome::Done)
}
