//! `kesgate render`: MinIO's environment file(s) from the configuration;
//! `--dry-run` and `--diff` say what would change, `--check` judges the
//! file as MinIO will read it.

use std::path::Path;

use super::Outcome;
use crate::cli::RenderArgs;
use crate::config::Settings;
use crate::error::Error;
use crate::host::minio_unit;
use crate::stages::render::{self, Action, Check, Layout};

pub(crate) async fn run(config: &Path, args: &RenderArgs) -> Result<Outcome, Error> {
    let settings = Settings::load(config)?;
    let unit = minio_unit::unit(&settings).await;
    if args.check {
        let check = render::check(&settings.kes, &settings.env_file, &unit, &settings.path)?;
        return Ok(report_check(&check));
    }
    let options = render::Options {
        action: if args.dry_run {
            Action::DryRun
        } else {
            Action::Write
        },
        diff: args.diff,
        config: &settings.path,
    };
    let rendered = render::render(&settings.kes, &settings.env_file, &unit, options).await?;
    for diff in rendered.files.iter().filter_map(|f| f.diff.as_deref()) {
        out!("{diff}");
    }
    rendered.tell(args.dry_run);
    Ok(Outcome::Done)
}

/// `--check`'s answer on standard output: "no" is exit 1, not an error.
fn report_check(check: &Check) -> Outcome {
    let path = check.path.display();
    match &check.layout {
        Layout::Split(p) => outln!(
            "MINIO_CONFIG_ENV_FILE={}: MinIO reads the KES variables there, over systemd's file",
            p.display()
        ),
        Layout::Shared => outln!(
            "{path} is read by systemd and, through MINIO_CONFIG_ENV_FILE, by MinIO: both parsers judged"
        ),
        Layout::One => {}
    }
    if !check.exists {
        outln!("{path}: does not exist");
        return Outcome::No;
    }
    if check.minio_problems.is_empty() {
        outln!("{path}: MinIO would accept its KMS variables");
    } else {
        outln!(
            "{path}: MinIO would refuse to start: {}",
            check.minio_problems.join("; ")
        );
    }
    if check.drift.is_empty() {
        outln!("{path}: matches the configuration");
    } else {
        outln!(
            "{path}: differs from the configuration: {}",
            check.drift.join(", ")
        );
    }
    if check.minio_problems.is_empty() && check.drift.is_empty() {
        Outcome::Done
    } else {
        Outcome::No
    }
}
