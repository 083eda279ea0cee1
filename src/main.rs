//! kesgate: start MinIO only once KES can serve its keys.
//!
//! The boot chain, one module per stage, each taking typed settings and
//! returning a typed error that says what to do:
//! wait (KES ready) → render (/etc/default/minio) → keys → buckets.

/// The one helper that writes files: atomic, durable, private.
mod atomic_file;
/// Capped exponential backoff with jitter, shared by every wait.
mod backoff;
/// Stage: bucket-default SSE-KMS through MinIO's S3 API.
mod buckets;
/// Command-line interface (clap).
mod cli;
/// The configuration file, parsed once into typed settings.
mod config;
/// Top-level error and the one mapping to exit codes.
mod error;
/// `kesgate identity`: identities and fresh API keys.
mod identity;
/// KES client: API keys, TLS, HTTP, policies.
mod kes;
/// Stage: make sure keys exist on KES.
mod keys;
/// Journal or terminal logging, MESSAGE_IDs.
mod logging;
/// Stage: render MinIO's EnvironmentFile.
mod render;
/// S3 requests to MinIO, signed with SigV4.
mod s3;
/// Secret values that never reach logs.
mod secret;
/// sd_notify and journal detection.
mod systemd;
/// Stage: wait until KES is ready.
mod wait;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use config::Settings;
use error::Error;
use kes::client::KesClient;
use systemd::notify::Notifier;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log, cli.verbose);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let notifier = Notifier::from_env();
    let result = runtime.block_on(async {
        tokio::select! {
            r = run(&cli, &notifier) => Some(r),
            signal = terminated() => {
                notifier.status(&format!("stopped by {signal}"));
                tracing::info!("stopped by {signal}");
                None
            }
        }
    });
    match result {
        Some(Ok(code)) => ExitCode::from(code),
        Some(Err(e)) => {
            let (id, kind) = e.journal_tags();
            logging::log_failure(id, kind, e.endpoint().as_deref(), &e);
            notifier.status(&first_line(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
        None => {
            drop(runtime);
            reraise_termination()
        }
    }
}

/// Runs the command; returns the exit code for outcomes that are not errors
/// (`render --check` answering "no").
async fn run(cli: &Cli, notifier: &Notifier) -> Result<u8, Error> {
    match &cli.command {
        Command::Identity(cmd) => {
            identity::run(cmd)?;
            Ok(0)
        }
        Command::Wait => {
            let (_, _, ready) = wait_for_kes(cli, notifier).await?;
            notifier.ready(&format!("KES ready: {} ({})", ready.endpoint, ready.via));
            Ok(0)
        }
        Command::Render(args) => {
            let settings = Settings::load(&cli.config)?;
            if args.check {
                return Ok(report_check(&render::check(
                    &settings.kes,
                    &settings.env_file,
                )?));
            }
            let report =
                render::render(&settings.kes, &settings.env_file, args.dry_run, args.diff)?;
            report_render(&report, args.dry_run);
            Ok(0)
        }
        Command::Keys => {
            let (settings, client, ready) = wait_for_kes(cli, notifier).await?;
            let (mut created, mut existed) = (0, 0);
            for key in &settings.keys {
                notifier.status(&format!("checking key {key}"));
                match keys::ensure(&client, &settings.kes, &ready.endpoint, key).await? {
                    keys::KeyOutcome::Created => created += 1,
                    keys::KeyOutcome::Existed => existed += 1,
                }
            }
            let summary = format!(
                "{} key(s) present on KES: {created} created, {existed} already existed",
                settings.keys.len()
            );
            tracing::info!("{summary}");
            notifier.ready(&summary);
            Ok(0)
        }
        Command::Buckets => {
            let settings = Settings::load(&cli.config)?;
            let report = buckets::run(&settings, notifier).await?;
            notifier.ready(&report.summary());
            Ok(u8::from(!report.all_ok()))
        }
        Command::Start => {
            let (settings, client, ready) = wait_for_kes(cli, notifier).await?;
            notifier.status(&format!(
                "KES ready; checking key {}",
                settings.kes.default_key
            ));
            let (key, endpoint) = (&settings.kes.default_key, &ready.endpoint);
            // MinIO's order: generate with the key, create it only on a 404.
            notifier.status(&format!(
                "checking generate/decrypt with key {key} as MinIO will"
            ));
            match keys::round_trip(&client, &settings.kes, endpoint, key).await {
                Err(keys::KeyError::NotFound { .. }) => {
                    keys::ensure(&client, &settings.kes, endpoint, key).await?;
                    keys::round_trip(&client, &settings.kes, endpoint, key).await?;
                }
                other => other?,
            }
            notifier.status(&format!("rendering {}", settings.env_file.path.display()));
            let report = render::render(&settings.kes, &settings.env_file, false, false)?;
            report_render(&report, false);
            notifier.ready(&format!(
                "KES ready ({}); key {} present and works; {} {}",
                ready.endpoint,
                settings.kes.default_key,
                settings.env_file.path.display(),
                if report.written {
                    "updated"
                } else {
                    "up to date"
                },
            ));
            Ok(0)
        }
    }
}

/// Loads the configuration and waits for KES: the first step of `wait` and `start`.
async fn wait_for_kes(
    cli: &Cli,
    notifier: &Notifier,
) -> Result<(Settings, KesClient, wait::Ready), Error> {
    let settings = Settings::load(&cli.config)?;
    let client = KesClient::new(&settings.kes)?;
    log_start(&settings);
    let ready = wait::wait(&settings.kes, &settings.wait, &client, notifier).await?;
    Ok((settings, client, ready))
}

fn log_start(settings: &Settings) {
    tracing::info!(
        "waiting for KES ({} endpoint(s), require {:?}) as identity {} ({}); configuration {}",
        settings.kes.endpoints.len(),
        settings.wait.require,
        settings
            .kes
            .identity()
            .map_or_else(|| "unknown".into(), |i| i.to_string()),
        settings.kes.auth.describe(),
        settings.path.display(),
    );
}

fn report_render(report: &render::Report, dry_run: bool) {
    let path = report.path.display();
    if let Some(diff) = &report.diff {
        print!("{diff}");
    }
    if let Some((old, new)) = report.tightened {
        let verb = if dry_run {
            "would tighten it"
        } else {
            "tightened"
        };
        tracing::warn!(kesgate_env_file = %path, "{path} holds the KES API key but was mode {old:04o}: {verb} to {new:04o}");
    }
    for (name, why) in &report.removed {
        tracing::info!(kesgate_env_file = %path, "{path}: {} {name}: {why}", if dry_run { "would remove" } else { "removed" });
    }
    let names = report.changed.join(" ");
    if dry_run {
        if report.changed.is_empty() && report.removed.is_empty() {
            tracing::info!("{path}: up to date; nothing would change");
        } else {
            tracing::info!(
                "{path}: would set {}",
                if names.is_empty() { "nothing" } else { &names }
            );
        }
    } else if report.written {
        tracing::info!(message_id = logging::ids::ENV_CHANGED, kesgate_env_file = %path, kesgate_changed = %names, "{path} updated: {}", if names.is_empty() { "duplicates or stale lines removed".to_owned() } else { format!("set {names}") });
    } else {
        tracing::info!(message_id = logging::ids::ENV_UNCHANGED, kesgate_env_file = %path, "{path} already matches the configuration; not written");
    }
}

fn report_check(check: &render::Check) -> u8 {
    let path = check.path.display();
    if !check.exists {
        println!("{path}: does not exist");
        return 1;
    }
    if check.minio_problems.is_empty() {
        println!("{path}: MinIO would accept its KMS variables");
    } else {
        println!(
            "{path}: MinIO would refuse to start: {}",
            check.minio_problems.join("; ")
        );
    }
    if check.drift.is_empty() {
        println!("{path}: matches the configuration");
    } else {
        println!(
            "{path}: differs from the configuration: {}",
            check.drift.join(", ")
        );
    }
    u8::from(!(check.minio_problems.is_empty() && check.drift.is_empty()))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// Resolves on SIGTERM or SIGINT, naming it.
async fn terminated() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Dies by SIGTERM with the default action, so systemd records a clean stop
/// by signal rather than an exit code it would count as failure.
fn reraise_termination() -> ExitCode {
    use nix::sys::signal::{SigHandler, Signal, raise, signal};
    // SAFETY: restoring the default disposition has no handler to race with.
    unsafe {
        let _ = signal(Signal::SIGTERM, SigHandler::SigDfl);
    }
    let _ = raise(Signal::SIGTERM);
    ExitCode::from(143)
}
