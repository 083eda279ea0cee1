//! kesgate: start MinIO only once KES can serve its keys.
//!
//! The boot chain, one module per stage, each taking typed settings and
//! returning a typed error that says what to do:
//! wait (KES ready) → render (/etc/default/minio) → keys → buckets.

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
/// Journal or terminal logging, MESSAGE_IDs.
mod logging;
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
        Some(Ok(())) => ExitCode::SUCCESS,
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

async fn run(cli: &Cli, notifier: &Notifier) -> Result<(), Error> {
    match &cli.command {
        Command::Identity(cmd) => Ok(identity::run(cmd)?),
        Command::Wait => {
            let settings = Settings::load(&cli.config)?;
            let client = KesClient::new(&settings.kes)?;
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
            wait::wait(&settings.kes, &settings.wait, &client, notifier).await?;
            Ok(())
        }
    }
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
