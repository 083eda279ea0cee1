//! kesgate's records of a render in its state directory: the change under
//! way (`render.pending`: completed first at the next start if a render
//! was killed) and every backup it made (`backups`: for the packages'
//! purge and erase). Losing a record never fails the render.

use std::io;
use std::path::Path;

use super::RenderError;
use crate::config::{EnvFileSettings, KesSettings};
use crate::files::atomic;

const JOURNAL: &str = "render.pending";
const BACKUPS: &str = "backups";

/// The record of a change under way, in the state directory; kesgate runs
/// without one where the sandbox keeps it from writing there.
pub(super) fn begin_journal(paths: &[String]) {
    let text = format!(
        "# kesgate: a render of these files began and has not finished\n{}\n",
        paths.join("\n")
    );
    if let Err(e) = write_state(JOURNAL, text.as_bytes()) {
        tracing::debug!(
            "no record of the change in {}: {e}",
            atomic::state_dir().display()
        );
    }
    #[cfg(feature = "failpoints")]
    fail::fail_point!("commit-after-journal", |a| {
        let _ = atomic::injected(a);
    });
}

pub(super) fn remove_journal() {
    let _ = std::fs::remove_file(atomic::state_dir().join(JOURNAL));
}

fn write_state(name: &str, content: &[u8]) -> io::Result<()> {
    let dir = atomic::state_dir();
    atomic::own_dir(&dir)?;
    atomic::write_private(&dir.join(name), content)
}

/// Every backup kesgate made, for the packages' purge and erase.
pub(super) fn record_backup(path: &Path) {
    let dir = atomic::state_dir();
    let list = std::fs::read_to_string(dir.join(BACKUPS)).unwrap_or_default();
    let line = path.display().to_string();
    if line.contains('\n') || list.lines().any(|l| l == line) {
        return;
    }
    let text = format!("{list}{line}\n");
    if let Err(e) = write_state(BACKUPS, text.as_bytes()) {
        tracing::debug!("cannot record the backup {line}: {e}");
    }
}

/// The files of a render that began and did not finish, if any.
pub(super) fn unfinished() -> Option<Vec<String>> {
    let path = atomic::state_dir().join(JOURNAL);
    let text = crate::files::regular::read_text(&path, crate::files::regular::MAX_CONFIG).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(crate::text::cut)
            .collect(),
    )
}

/// Completes an unfinished render first, before anything else.
pub(crate) async fn finish_unfinished(
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &crate::host::minio_unit::MinioUnit,
    config: &Path,
) -> Result<(), RenderError> {
    let Some(files) = unfinished() else {
        return Ok(());
    };
    tracing::warn!(
        message_id = crate::logging::ids::ENV_CHANGED,
        "a render of {} began and did not finish (killed, or the machine stopped): completing it now",
        files.join(" and ")
    );
    let options = super::Options {
        action: super::Action::Write,
        diff: false,
        config,
    };
    super::render(kes, env, unit, options).await.map(|_| ())
}
