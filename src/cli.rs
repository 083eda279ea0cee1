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
    after_long_help = "Files:\n  /etc/kesgate/kesgate.toml  configuration (see /usr/share/doc/kesgate/kesgate.toml.example)\n  \
/etc/default/minio  MinIO's environment file, rendered\n  \
/usr/lib/systemd/system/minio.service.d/kesgate.conf  the drop-in\n\n\
Exit status:\n  0 success; 1 a check answered no (render --check, buckets); 64 usage; 69 KES or MinIO \
not ready in time, or out of file descriptors (retried by the units); 73 cannot read or write a \
file (I/O, read-only, full, lock held); 76 the peer is not KES (TLS, HTTP, redirect, method, data \
key); 77 permission (KES policy, secret file mode or owner); 78 configuration (also a file that is \
not a regular file, a value beyond its maximum).\n\n\
See also: systemctl status kesgate minio; journalctl -xu kesgate"
)]
pub struct Cli {
    /// Configuration file [default: $KESGATE_CONFIG outside MinIO's unit, else /etc/kesgate/kesgate.toml].
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Where log lines go.
    #[arg(long, global = true, value_enum, default_value_t = LogTarget::Auto)]
    pub log: LogTarget,
    /// Log debug details too.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Wait until KES is reachable, authorises our identity and its key store answers.
    Wait,
    /// Write the MINIO_KMS_KES_* variables (and [env_file.set]) into MinIO's env file.
    Render(RenderArgs),
    /// What kesgate.service runs: wait, make sure the default key exists, render.
    Start,
    /// What minio.service runs before every (re)start: `start` without READY=1.
    /// Waits at most [wait] timeout (3 s at least); no configuration file: exit 0.
    Preflight(PreflightArgs),
    /// Make sure the default key and every [[keys]] entry exist on KES.
    Keys,
    /// Set bucket-default SSE-KMS on every [[buckets]] entry once MinIO is healthy.
    Buckets,
    /// Is encryption at rest healthy on this host? Units, KES, env file, keys,
    /// buckets, certificate lifetimes; exit 0 healthy, 1 broken, 2 a warning
    /// (a certificate expiring soon), 3 some parts could not be seen.
    Status(StatusArgs),
    /// One round of `status`'s checks, remembered (kesgate-watch.timer runs
    /// it every minute): metrics for node_exporter in [watch] textfile, and
    /// a journal entry only when something changed. Creates, renders and
    /// starts nothing.
    Watch(WatchArgs),
    /// Write kesgate's configuration: `--adopt` takes what MinIO uses today
    /// from its environment file(s), changing nothing MinIO sees; without
    /// it, a new installation from --endpoint, --ca and --key-name.
    Init(InitArgs),
    /// Print or create KES identities and API keys.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Write the man page and shell completions into DIR (for packaging).
    #[command(hide = true)]
    Assets(AssetsArgs),
}

impl Cli {
    /// The configuration file: `--config`, else `KESGATE_CONFIG` where the
    /// environment is kesgate's (never MinIO's `Environment=` choosing it),
    /// else the default.
    pub fn config(&self) -> PathBuf {
        self.config
            .clone()
            .or_else(crate::inherited::config_path)
            .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_PATH))
    }
}

impl Command {
    /// The command's name: the episode it keeps in /run/kesgate.
    pub fn name(&self) -> &'static str {
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
pub struct PreflightArgs {
    /// The drop-in's second line (no `+`): as MinIO's user, inside MinIO's
    /// sandbox, with the environment systemd gives MinIO, check what MinIO
    /// will open and reach — its MINIO_KMS_KES_* values, CA, client
    /// certificate, proxy — with MinIO's start-up call. Reads no kesgate
    /// configuration; MinIO without KES variables: exit 0.
    #[arg(long)]
    pub as_minio: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the report as JSON (fields: README, "kesgate status").
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
pub struct WatchArgs {
    /// Only remove the metrics file (package removal: node_exporter must
    /// not go on serving stale values).
    #[arg(long)]
    pub remove_textfile: bool,
}

/// How `status` prints its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFormat {
    Text,
    Json,
    Nagios,
    Prometheus,
}

impl StatusArgs {
    pub fn format(&self) -> StatusFormat {
        match (self.json, self.nagios, self.prometheus) {
            (true, _, _) => StatusFormat::Json,
            (_, true, _) => StatusFormat::Nagios,
            (_, _, true) => StatusFormat::Prometheus,
            _ => StatusFormat::Text,
        }
    }
}

#[derive(Debug, Args)]
pub struct AssetsArgs {
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Print the identity KES derives from an API key or certificate (last line: the hex identity).
    Of(IdentityOf),
    /// Print a fresh API key and its identity.
    New {
        /// Also print a KES policy block with this name granting what MinIO and kesgate need.
        #[arg(long, value_name = "NAME")]
        policy: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct IdentityOf {
    /// An API key, `-` for standard input, or a PEM certificate file. Prefer
    /// `-` or --file: an API key in argv is visible to other local users.
    pub input: Option<String>,
    /// Read the API key or PEM certificate from this file.
    #[arg(long, conflicts_with = "input")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Adopt MinIO's current KES settings (MINIO_KMS_KES_* in its env
    /// file(s), as MinIO reads them).
    #[arg(long)]
    pub adopt: bool,
    /// MinIO's EnvironmentFile [default: /etc/default/minio].
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// The API key file: written from MinIO's key (--adopt), used when it
    /// exists, else generated there (one host only) [default:
    /// /etc/kesgate/kes-api-key]. The key itself is never an argument.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// A KES endpoint, https://host:port (repeatable; MinIO's {1...3}
    /// ellipses allowed). New installations only.
    #[arg(
        long = "endpoint",
        value_name = "URL",
        conflicts_with = "adopt",
        required_unless_present = "adopt"
    )]
    pub endpoints: Vec<String>,
    /// The CA that signed KES's certificate (file or directory). New
    /// installations only.
    #[arg(long, value_name = "FILE|DIR", conflicts_with = "adopt")]
    pub ca: Option<PathBuf>,
    /// MinIO's default key. New installations only.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "minio-backend-default-key",
        conflicts_with = "adopt"
    )]
    pub key_name: String,
    /// With --adopt: adopt although kesgate's first render would rewrite
    /// part of MinIO's environment (shown as a masked diff).
    #[arg(long)]
    pub accept_changes: bool,
    /// Replace a configuration or key file that differs (the old one is
    /// kept as FILE.kesgate-prev), or adopt although kesgate would hold
    /// MinIO back where it starts today.
    #[arg(long)]
    pub force: bool,
    /// Print what would be written and checked; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
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
