//! kesgate: start MinIO only once KES can serve its keys.
//!
//! The boot chain (crate::chain, written once in run order):
//! wait (KES ready) → MinIO's round trip with the default key → render
//! (MinIO's environment) → keys → buckets. Each unit runs a slice of it.
//! `main` parses the command line, runs one command, and is the only place
//! that ends the process: an outcome or an error becomes the exit code
//! through one classification (crate::error).

/// Standard output that stops cleanly when closed (`out!`/`outln!`;
/// first, so that every module has the macros).
#[macro_use]
mod output;

/// The boot chain: its stages in run order, and the slice each unit runs.
mod chain;
/// Command-line interface (clap).
mod cli;
/// One file per command, each owning its `run`.
mod commands;
/// The configuration file, parsed and validated once into typed settings.
mod config;
/// Every error's exit code, MESSAGE_ID, kind and endpoint, from one place.
mod error;
/// Files as root must treat them: safe reads and writes, env-file dialects.
mod files;
/// The fleet fingerprint: MinIO's cluster-wide MINIO_* set, keyed.
mod fleet;
/// Facts about this host: minio.service, systemd.
mod host;
/// What kesgate takes from the environment it inherits (own unit or MinIO's).
mod inherited;
/// KES's terms as checked values: API keys, identities, key names, policies.
mod kes_types;
/// Journal or terminal logging, MESSAGE_IDs.
mod logging;
/// The network part every client shares: TLS as MinIO does it.
mod net;
/// Clients of the peers: KES, MinIO's S3 API, Vault; peers' text.
mod peers;
/// The one retry driver (deadline, backoff with jitter, attempts, last error).
mod retry;
/// Secret values that never reach logs.
mod secret;
/// The stages: wait, keys (and MinIO's round trip), render, buckets.
mod stages;
/// Text from elsewhere, cut and escaped; the shapes of kesgate's messages.
mod text;
/// A systemd unit file's [Service] assignments, as text.
mod unit_file;

use std::process::ExitCode;

use cli::{Cli, Command};
use commands::Outcome;
use error::Error;
use host::systemd::episode::Episode;
use host::systemd::notify::Notifier;
use text::headline;

fn main() -> ExitCode {
    // Test builds only: FAILPOINTS=name=action from the environment.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let cli = match cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are answers; anything else is a usage
            // error: EX_USAGE (64), as the exit code table says, not clap's 2.
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
            tracing::error!("cannot start: {e}\n  fix: {}", files::FIX_DESCRIPTORS);
            return ExitCode::from(error::EX_UNAVAILABLE);
        }
    };
    let notifier = match cli.command {
        // minio.service's status line: say whose text it is.
        Command::Preflight(_) => Notifier::from_env().with_prefix("kesgate: "),
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
    let code = match result {
        Ok(Ok(outcome)) => {
            if outcome == Outcome::Done {
                episode.end();
            }
            outcome.exit_code()
        }
        Ok(Err(e)) => fail(&e, &notifier, &episode),
        Err(signal) => {
            // Not `drop`: that would wait for blocking tasks still running.
            runtime.shutdown_background();
            return die_by(signal);
        }
    };
    match output::closed() {
        Some(output::Closed::BrokenPipe) => die_by(nix::sys::signal::Signal::SIGPIPE),
        Some(output::Closed::Failed) => ExitCode::from(error::EX_CANTCREAT),
        None => ExitCode::from(code),
    }
}

/// Runs the one command.
async fn run(cli: &Cli, notifier: &Notifier, episode: &Episode) -> Result<Outcome, Error> {
    let config = &cli.config();
    match &cli.command {
        Command::Wait => commands::wait::run(config, notifier, episode).await,
        Command::Render(args) => commands::render::run(config, args).await,
        Command::Start => commands::start::run(config, notifier, episode).await,
        Command::Preflight(a) if a.as_minio => {
            commands::preflight::as_minio(config, notifier).await
        }
        Command::Preflight(_) => commands::preflight::run(config, notifier, episode).await,
        Command::Keys => commands::keys::run(config, notifier, episode).await,
        Command::Buckets => commands::buckets::run(config, notifier, episode).await,
        Command::Status(args) => Ok(commands::status::run(config, args.format()).await),
        Command::Watch(args) => commands::watch::run(config, args.remove_textfile).await,
        Command::Init(args) => commands::init::run(config, args).await,
        Command::Identity(cmd) => commands::identity::run(config, cmd, notifier, episode).await,
        Command::Assets(args) => commands::assets::run(&args.dir).map_err(Error::Assets),
    }
}

/// A failed command: told to the journal once per episode (a retrying unit
/// fails the same way on every attempt), STATUS= set; its exit code.
fn fail(e: &Error, notifier: &Notifier, episode: &Episode) -> u8 {
    let class = e.class();
    if episode.changed("failure", class.kind) {
        logging::log_failure(class.message_id, class.kind, class.endpoint.as_deref(), e);
    } else {
        tracing::debug!("failed as before ({}): {}", class.kind, headline(e));
    }
    notifier.status(&e.status_line());
    class.code
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

/// Dies by `signal`, with the default action: systemd records a clean stop
/// by SIGTERM, a shell sees Ctrl-C as SIGINT (so a script running kesgate
/// stops too), and a closed pipe ends kesgate as it ends `head`'s writers.
fn die_by(signal: nix::sys::signal::Signal) -> ExitCode {
    use nix::sys::signal::{SigHandler, raise};
    // SAFETY: restoring the default disposition has no handler to race with.
    unsafe {
        let _ = nix::sys::signal::signal(signal, SigHandler::SigDfl);
    }
    let _ = raise(signal);
    ExitCode::from(128 + signal as u8)
}
