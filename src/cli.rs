//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogTarget;

#[derive(Debug, Parser)]
#[command(
    name = "kesgate",
    version,
    about = "Start MinIO only once KES can serve its keys",
    long_about = "Start MinIO only once KES can serve its keys.\n\n\
kesgate.service runs `kesgate start` at boot: it waits until KES is reachable, authorises \
kesgate's identity and its key store is unsealed, checks the default key the way MinIO will \
use it, and renders the MINIO_KMS_KES_* variables into /etc/default/minio. minio.service runs \
`kesgate preflight` before every (re)start through a drop-in. kesgate-keys.service and \
kesgate-buckets.service seed keys and bucket-default SSE-KMS.",
    after_long_help = after_long_help()
)]
pub(crate) struct Cli {
    /// Configuration [default: $KESGATE_CONFIG or /etc/kesgate/kesgate.toml]
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// Log to: auto (the journal if stderr is it, else the terminal),
    /// journal, terminal
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHERE",
        default_value_t = LogTarget::Auto,
        hide_possible_values = true,
        hide_default_value = true,
        help_heading = GLOBAL
    )]
    pub log: LogTarget,
    /// Log debug details too.
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Wait until KES is reachable, authorises our identity and its key store answers.
    #[command(
        after_help = "Examples:\n  kesgate wait                 # as kesgate.service would, on a terminal\n  kesgate wait --log journal   # the same, its entries in the journal"
    )]
    Wait,
    /// Write the MINIO_KMS_KES_* variables (and [env_file.set]) into MinIO's env file.
    #[command(
        after_help = "Examples:\n  kesgate render --dry-run --diff   # what would change, secrets masked\n  kesgate render --check            # exit 1 when the file differs"
    )]
    Render(RenderArgs),
    /// What kesgate.service runs: wait, make sure the default key exists, render.
    #[command(
        after_help = "Examples:\n  systemctl start kesgate      # how it runs: kesgate.service\n  kesgate start                # by hand, on a terminal"
    )]
    Start,
    /// What minio.service runs before every (re)start: `start` without READY=1.
    /// Waits at most [wait] timeout (3 s at least); no configuration file: exit 0.
    #[command(
        after_help = "Examples:\n  systemctl restart minio      # runs it through the drop-in\n  systemctl cat minio          # shows the drop-in's two lines"
    )]
    Preflight(PreflightArgs),
    /// Make sure the default key and every [[keys]] entry exist on KES.
    #[command(
        after_help = "Examples:\n  kesgate keys\n  systemctl start kesgate-keys # the oneshot that runs it"
    )]
    Keys,
    /// Set bucket-default SSE-KMS on every [[buckets]] entry once MinIO is healthy.
    #[command(
        after_help = "Examples:\n  kesgate buckets\n  systemctl start kesgate-buckets # the oneshot that runs it"
    )]
    Buckets,
    /// Is encryption at rest healthy on this host? Units, KES, env file, keys,
    /// buckets, certificate lifetimes; exit 0 healthy, 1 broken, 2 a warning
    /// (a certificate expiring soon), 3 some parts could not be seen.
    #[command(
        after_help = "Examples:\n  kesgate status\n  kesgate status --nagios      # one monitoring-plugins line"
    )]
    Status(StatusArgs),
    /// One round of `status`'s checks, remembered (kesgate-watch.timer runs
    /// it every minute): metrics for node_exporter in [watch] textfile, and
    /// a journal entry only when something changed. Creates, renders and
    /// starts nothing.
    #[command(
        after_help = "Examples:\n  systemctl list-timers kesgate-watch.timer\n  journalctl -u kesgate-watch  # what changed, once per change"
    )]
    Watch(WatchArgs),
    /// Write kesgate's configuration: adopt MinIO's KES settings, or new.
    #[command(
        after_help = "Examples:\n  kesgate init --adopt --dry-run   # on a host set up by hand\n  kesgate init --endpoint https://kes1:7373 --ca /etc/kes/ca.pem"
    )]
    Init(InitArgs),
    /// Print or create KES identities and API keys.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Write the man page and shell completions into DIR (for packaging).
    #[command(hide = true)]
    Assets(AssetsArgs),
}

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Files, exit status (from the one table in crate::error) and where to
/// look next, under every `--help`.
fn after_long_help() -> String {
    format!(
        "Files:\n  \
/etc/kesgate/kesgate.toml  configuration (example: /usr/share/doc/kesgate/examples/kesgate.toml)\n  \
/etc/default/minio  MinIO's environment file, rendered\n  \
/usr/lib/systemd/system/minio.service.d/kesgate.conf  the drop-in\n\n\
{}\n\n\
See also: systemctl status kesgate minio; journalctl -xu kesgate",
        crate::error::exit_status_help()
    )
}

/// The command line, parsed. Help is wrapped to the terminal (clap's
/// `wrap_help`), or to `COLUMNS`; at 80 columns when it goes elsewhere (a
/// pipe, a file), where clap would use 100.
pub(crate) fn try_parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    use std::io::IsTerminal;
    let mut cmd = Cli::command();
    if std::env::var_os("COLUMNS").is_none() && !std::io::stdout().is_terminal() {
        cmd = cmd.term_width(80);
    }
    Cli::from_arg_matches(&cmd.try_get_matches()?)
}

impl Cli {
    /// The configuration file: `--config`, else `KESGATE_CONFIG` where the
    /// environment is kesgate's (never MinIO's `Environment=` choosing it),
    /// else the default.
    pub(crate) fn config(&self) -> PathBuf {
        self.config
            .clone()
            .or_else(crate::inherited::config_path)
            .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_PATH))
    }
}

impl Command {
    /// The command's name: the episode it keeps in /run/kesgate.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Wait => "wait",
            Command::Render(_) => "render",
            Command::Start => "start",
            Command::Preflight(a) if a.as_minio => "preflight-as-minio",
            Command::Preflight(_) => "preflight",
            Command::Keys => "keys",
            Command::Buckets => "buckets",
            Command::Identity(_) => "identity",
            Command::Status(_) => "status",
            Command::Watch(_) => "watch",
            Command::Init(_) => "init",
            Command::Assets(_) => "assets",
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct PreflightArgs {
    /// The drop-in's second line (no `+`): as MinIO's user, inside MinIO's
    /// sandbox, with the environment systemd gives MinIO, check what MinIO
    /// will open and reach (its MINIO_KMS_KES_* values, CA, client
    /// certificate, proxy) with MinIO's start-up call. Reads no kesgate
    /// configuration; MinIO without KES variables: exit 0.
    #[arg(long)]
    pub as_minio: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print the report as JSON (fields: docs/commands.md).
    #[arg(long, group = "format")]
    pub json: bool,
    /// One monitoring-plugins line with perfdata; exit 0 OK, 1 WARNING,
    /// 2 CRITICAL, 3 UNKNOWN (Nagios, Icinga, Zabbix, Sensu).
    #[arg(long, group = "format")]
    pub nagios: bool,
    /// The report as Prometheus metrics (node_exporter's textfile format).
    #[arg(long, group = "format")]
    pub prometheus: bool,
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Only remove the metrics file (package removal: node_exporter must
    /// not go on serving stale values).
    #[arg(long)]
    pub remove_textfile: bool,
}

/// How `status` prints its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusFormat {
    Text,
    Json,
    Nagios,
    Prometheus,
}

impl StatusArgs {
    pub(crate) fn format(&self) -> StatusFormat {
        match (self.json, self.nagios, self.prometheus) {
            (true, _, _) => StatusFormat::Json,
            (_, true, _) => StatusFormat::Nagios,
            (_, _, true) => StatusFormat::Prometheus,
            _ => StatusFormat::Text,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct AssetsArgs {
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum IdentityCommand {
    /// Print the identity KES derives from an API key or certificate (last line: the hex identity).
    Of(IdentityOf),
    /// Print a fresh API key and its identity.
    New {
        /// Also print a KES policy block with this name granting what MinIO and kesgate need.
        #[arg(long, value_name = "NAME")]
        policy: Option<String>,
        /// Write the API key to this new file (mode 0600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
    },
    /// Switch this host to the API key in FILE (rotation, on every node):
    /// prove KES serves MinIO with it, store it in [kes] api_key_file,
    /// render MinIO's env file and remove the backup that held the old key.
    /// Then restart MinIO on every node together.
    Switch {
        /// The new API key (`kesgate identity new --key-file`, copied here).
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct IdentityOf {
    /// An API key, `-` for standard input, or a PEM certificate file. Prefer
    /// `-` or --file: an API key in argv is visible to other local users.
    pub input: Option<String>,
    /// Read the API key or PEM certificate from this file.
    #[arg(long, conflicts_with = "input")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Adopt the KES settings MinIO uses today.
    #[arg(long)]
    pub adopt: bool,
    /// MinIO's env file [default: /etc/default/minio]
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// API key file [default: /etc/kesgate/kes-api-key]
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// KES endpoint https://HOST:PORT (repeatable)
    #[arg(
        long = "endpoint",
        value_name = "URL",
        conflicts_with = "adopt",
        required_unless_present = "adopt"
    )]
    pub endpoints: Vec<String>,
    /// The CA of KES's certificate (file or directory).
    #[arg(long, value_name = "FILE|DIR", conflicts_with = "adopt")]
    pub ca: Option<PathBuf>,
    /// MinIO's default key
    #[arg(
        long,
        value_name = "NAME",
        default_value = "minio-backend-default-key",
        conflicts_with = "adopt"
    )]
    pub key_name: String,
    /// The Vault behind KES (repeatable)
    #[arg(long, value_name = "URL")]
    pub vault: Vec<String>,
    /// The CA of the Vault's certificate
    #[arg(long, value_name = "FILE")]
    pub vault_ca: Option<PathBuf>,
    /// Adopt although the first render changes MinIO's env
    #[arg(long)]
    pub accept_changes: bool,
    /// Replace differing files (kept as *.kesgate-prev); adopt anyway
    #[arg(long)]
    pub force: bool,
    /// Print what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// Say what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print a unified diff (secret values masked).
    #[arg(long)]
    pub diff: bool,
    /// Exit 0 if MinIO would accept the file and it matches the configuration, else 1; write nothing.
    #[arg(long, conflicts_with_all = ["dry_run", "diff"])]
    pub check: bool,
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// The help a user sees for `args`, as the binary prints it at 80
    /// columns.
    fn help(args: &[&str]) -> String {
        let argv = std::iter::once("kesgate").chain(args.iter().copied());
        let err = Cli::command()
            .term_width(80)
            .try_get_matches_from(argv)
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        err.render().to_string()
    }

    /// Help fits a terminal: at 80 columns no line is wider, and each
    /// command's `--help` is at most 30 lines.
    #[test]
    fn help_fits_80_columns_and_30_lines_a_command() {
        let cmd = Cli::command();
        let mut pages = vec![("kesgate".to_owned(), help(&["--help"]))];
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_name();
            let nested: Vec<&str> = sub.get_subcommands().map(|s| s.get_name()).collect();
            if nested.is_empty() {
                pages.push((name.to_owned(), help(&[name, "--help"])));
            }
            for n in nested {
                pages.push((format!("{name} {n}"), help(&[name, n, "--help"])));
            }
        }
        assert!(pages.len() > 10);
        for (name, page) in &pages {
            for line in page.lines() {
                assert!(line.chars().count() <= 80, "{name}: {line:?}");
            }
            if name != "kesgate" {
                let n = page.lines().count();
                assert!(n <= 30, "{name}: {n} lines\n{page}");
            }
        }
    }
}
