//! kesgate: start MinIO only once KES can serve its keys.
//!
//! The boot chain, one module per stage, each taking typed settings and
//! returning a typed error that says what to do:
//! wait (KES ready) → render (/etc/default/minio) → keys → buckets.

/// Standard output that ends by SIGPIPE, never a panic, when closed
/// (`out!`/`outln!`; first, so that every module has the macros).
#[macro_use]
mod output;

/// Hidden `kesgate assets DIR`: man page and shell completions for packages.
mod assets;
/// The one helper that writes files: atomic, durable, private.
mod atomic_file;
/// Capped exponential backoff with jitter, shared by every wait.
mod backoff;
/// Stage: bucket-default SSE-KMS through MinIO's S3 API.
mod buckets;
/// The boot chain as the units run it: `start` (kesgate.service) and
/// `preflight` (minio.service's ExecStartPre).
mod chain;
/// Command-line interface (clap).
mod cli;
/// The configuration file, parsed once into typed settings.
mod config;
/// MinIO's two env-file dialects: systemd's EnvironmentFile, MinIO's own.
mod envfile;
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
/// How minio.service runs MinIO: its user and certs directory (for TLS trust).
mod minio_service;
/// Text from peers, cut and escaped before it is shown.
mod peer_text;
/// Reading only regular files, without blocking, up to a cap.
mod regular_file;
/// Stage: render MinIO's EnvironmentFile.
mod render;
/// S3 requests to MinIO, signed with SigV4.
mod s3;
/// Paths resolved for writing as systemd-tmpfiles does (no unsafe
/// transitions through other users' directories or links).
mod safe_path;
/// Secret values that never reach logs.
mod secret;
/// `kesgate status`: every link of the chain, read-only.
mod status;
/// sd_notify and journal detection.
mod systemd;
/// TLS as MinIO does it: its trust pool and Go's verification rules.
mod tls;
/// The Vault/OpenBao behind KES: its seal state, for diagnosis.
mod vault;
/// Stage: wait until KES is ready.
mod wait;

use std::process::ExitCode;

use clap::Parser as _;

use cli::{Cli, Command};
use config::Settings;
use error::{Error, headline};
use systemd::episode::Episode;
use systemd::notify::Notifier;

fn main() -> ExitCode {
    // Test builds only: FAILPOINTS=name=action from the environment.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are answers; anything else is a usage
            // error: EX_USAGE (64), as README's table says, not clap's 2.
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => error::EX_USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    logging::init(cli.log, cli.verbose);
    if let Err(why) = enough_descriptors() {
        tracing::error!(
            "cannot start: {why}\n  fix: raise kesgate's open-file limit (LimitNOFILE= in a drop-in, or `ulimit -n`)"
        );
        return ExitCode::from(error::EX_UNAVAILABLE);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        // Out of file descriptors (or memory) before anything began: say
        // so and let the unit retry, never a panic.
        Err(e) => {
            tracing::error!("cannot start: {e}\n  fix: {}", error::FIX_DESCRIPTORS);
            return ExitCode::from(error::EX_UNAVAILABLE);
        }
    };
    let notifier = match cli.command {
        // minio.service's status line: say whose text it is.
        Command::Preflight => Notifier::from_env().with_prefix("kesgate: "),
        _ => Notifier::from_env(),
    };
    let episode = Episode::open(cli.command.name());
    let result = runtime.block_on(async {
        tokio::select! {
            r = run(&cli, &notifier, &episode) => Ok(r),
            signal = terminated() => {
                notifier.status(&format!("stopped by {}", signal.as_str()));
                tracing::info!("stopped by {}", signal.as_str());
                Err(signal)
            }
        }
    });
    match result {
        Ok(Ok(code)) => {
            if code == 0 {
                episode.end();
            }
            ExitCode::from(code)
        }
        Ok(Err(e)) => {
            let (id, kind) = e.journal_tags();
            // A retrying unit fails the same way on every attempt: tell the
            // journal once, until the failure changes or the unit succeeds.
            if episode.changed("failure", kind) {
                logging::log_failure(id, kind, e.endpoint().as_deref(), &e);
            } else {
                tracing::debug!("failed as before ({kind}): {}", headline(&e));
            }
            notifier.status(&headline(&e));
            ExitCode::from(e.exit_code())
        }
        Err(signal) => {
            // Not `drop`: that would wait for blocking tasks still running.
            runtime.shutdown_background();
            reraise_termination(signal)
        }
    }
}

/// The fewest file descriptors kesgate starts with: the runtime, its
/// signal handling and a few files and sockets. Below this, tokio's signal
/// set-up would panic rather than fail.
const MIN_DESCRIPTORS: u64 = 64;

/// Raises the soft open-file limit to the hard one (as Go does for MinIO),
/// and refuses to start below [`MIN_DESCRIPTORS`].
fn enough_descriptors() -> Result<(), String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    let soft = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    if soft < MIN_DESCRIPTORS {
        return Err(format!(
            "the open-file limit is {soft}, and kesgate needs at least {MIN_DESCRIPTORS}"
        ));
    }
    Ok(())
}

/// Runs the command; returns the exit code for outcomes that are not errors
/// (`render --check` answering "no").
async fn run(cli: &Cli, notifier: &Notifier, episode: &Episode) -> Result<u8, Error> {
    match &cli.command {
        Command::Identity(cmd) => {
            identity::run(cmd)?;
            Ok(0)
        }
        Command::Wait => {
            let settings = Settings::load(&cli.config)?;
            let runs_as = minio_service::runs_as(&settings.minio).await;
            let (_, ready) =
                chain::wait_for_kes(&settings, runs_as.as_ref(), notifier, episode).await?;
            notifier.ready(&ready.summary());
            Ok(0)
        }
        Command::Render(args) => {
            let settings = Settings::load(&cli.config)?;
            let unit = minio_service::unit(&settings).await;
            if args.check {
                return Ok(report_check(&render::check(
                    &settings.kes,
                    &settings.env_file,
                    &unit,
                    &settings.path,
                )?));
            }
            let action = if args.dry_run {
                render::Action::DryRun
            } else {
                render::Action::Write
            };
            let options = render::Options {
                action,
                diff: args.diff,
                config: &settings.path,
            };
            let report = render::render(&settings.kes, &settings.env_file, &unit, options).await?;
            chain::report_render(&report, args.dry_run);
            Ok(0)
        }
        Command::Keys => {
            let settings = Settings::load(&cli.config)?;
            let runs_as = minio_service::runs_as(&settings.minio).await;
            let (client, ready) =
                chain::wait_for_kes(&settings, runs_as.as_ref(), notifier, episode).await?;
            let (mut created, mut existed) = (0, 0);
            for key in &settings.keys {
                notifier.status(&format!("checking key {key}"));
                let outcome = match keys::ensure(&client, &settings.kes, &ready.endpoint, key).await
                {
                    Ok(o) => o,
                    Err(e) => return Err(chain::with_vault_word(&settings, e).await.into()),
                };
                match outcome {
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
            let settings = Settings::load(&cli.config)?;
            let summary = chain::gate(&settings, notifier, episode, chain::Caller::Service).await?;
            notifier.ready(&summary);
            Ok(0)
        }
        Command::Preflight => chain::preflight(&cli.config, notifier, episode).await,
        Command::Status(args) => {
            let report = status::gather(&cli.config).await;
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a serialisable report")
                );
            } else {
                out!("{}", status::human(&report));
            }
            Ok(report.exit_code())
        }
        Command::Assets(args) => {
            assets::write(&args.dir).map_err(Error::Assets)?;
            Ok(0)
        }
    }
}

fn report_check(check: &render::Check) -> u8 {
    let path = check.path.display();
    match &check.layout {
        render::Layout::Split(p) => outln!(
            "MINIO_CONFIG_ENV_FILE={}: MinIO reads the KES variables there, over systemd's file",
            p.display()
        ),
        render::Layout::Shared => outln!(
            "{path} is read by systemd and, through MINIO_CONFIG_ENV_FILE, by MinIO: both parsers judged"
        ),
        render::Layout::One => {}
    }
    if !check.exists {
        outln!("{path}: does not exist");
        return 1;
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
    u8::from(!(check.minio_problems.is_empty() && check.drift.is_empty()))
}

/// Resolves on SIGTERM or SIGINT, naming it.
async fn terminated() -> nix::sys::signal::Signal {
    use nix::sys::signal::Signal;
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => Signal::SIGTERM,
        _ = int.recv() => Signal::SIGINT,
    }
}

/// Dies by the signal that stopped it, with the default action: systemd
/// records a clean stop by SIGTERM, and a shell sees Ctrl-C as SIGINT (so
/// a script running kesgate stops too).
fn reraise_termination(signal: nix::sys::signal::Signal) -> ExitCode {
    use nix::sys::signal::{SigHandler, raise};
    // SAFETY: restoring the default disposition has no handler to race with.
    unsafe {
        let _ = nix::sys::signal::signal(signal, SigHandler::SigDfl);
    }
    let _ = raise(signal);
    ExitCode::from(128 + signal as u8)
}
