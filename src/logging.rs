//! Logging: structured journal entries (with MESSAGE_IDs and KESGATE_*
//! fields) when stderr is the journal, plain lines on a terminal.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// MESSAGE_IDs (32 lowercase hex digits); the journal catalog explains each.
pub(crate) mod ids {
    /// KES answered ready: reachable, identity authorised, key store up.
    pub(crate) const KES_READY: &str = "8f0d89a983d443ceb1ea0f826d7aa62c";
    /// An endpoint changed to a not-ready state (logged once per change).
    pub(crate) const KES_NOT_READY: &str = "23c27382dbae471291e0a4c2b4c1e9a4";
    /// The wait timed out.
    pub(crate) const WAIT_GAVE_UP: &str = "ef8a6507387d4e0a965fefbef281864f";
    /// KES answered 403 for our identity.
    pub(crate) const IDENTITY_REJECTED: &str = "ee8891ccb1a7414b8fee2c21e78ce9fc";
    /// The KES server certificate is not trusted.
    pub(crate) const TLS_UNTRUSTED: &str = "d89c19d77e924f7cb2a00162e3f37a75";
    /// Any other failure that ended a command.
    pub(crate) const FAILED: &str = "3a6e1758e35147b9b96edd91a8a0e7d5";
    /// The env file was rewritten (KESGATE_CHANGED names the variables).
    pub(crate) const ENV_CHANGED: &str = "4eda8be2440c490194d2349d2f1f173d";
    /// The env file already matched the configuration.
    pub(crate) const ENV_UNCHANGED: &str = "95f0b9312a664ebaa84ecd5b1cd4d7da";
    /// A key was created on KES.
    pub(crate) const KEY_CREATED: &str = "e42f27573bcd47938ac5591b166a3bea";
    /// A key already existed on KES.
    pub(crate) const KEY_EXISTS: &str = "4b5dd1895eb347e6afdda2c198904fb4";
    /// One bucket's encryption outcome (KESGATE_BUCKET, KESGATE_OUTCOME).
    pub(crate) const BUCKET_OUTCOME: &str = "70b3d776c8784eb7a7a13d7e8b943091";
    /// The local KES unit changed state (KESGATE_UNIT, KESGATE_UNIT_STATE).
    pub(crate) const KES_UNIT: &str = "aa8945659a90473aa4e6afe66880ddf9";
    /// MinIO's identity may not describe the default key (MinIO's 10 s
    /// keep-alive will log errors): a warning, MinIO still starts.
    pub(crate) const DESCRIBE_DENIED: &str = "567d1a5426ce440fb5da4ef6892e168d";
    /// The Vault behind KES changed state (KESGATE_VAULT, KESGATE_VAULT_STATE).
    pub(crate) const VAULT_STATE: &str = "2322fb094bdb47ec83d2c5fbf3ffcf24";
    /// A certificate in MinIO's KES path expires within `[watch] warn_before`.
    pub(crate) const CERT_EXPIRING: &str = "d817e242a9e54e9a931047cb9ed25f47";
    /// `kesgate watch`: a KES endpoint changed state (ready, not ready, its
    /// key store down or back).
    pub(crate) const WATCH_KES: &str = "18d9fed719654b77b975a2700f070bea";
    /// `kesgate watch`: the Vault behind KES sealed, unsealed, unreachable.
    pub(crate) const WATCH_VAULT: &str = "3c0cbb240a354cfaaf1d83def712314a";
    /// `kesgate watch`: a configured key went missing or is back.
    pub(crate) const WATCH_KEY: &str = "35fd4ca518204b78abbbfe85c83038c5";
    /// `kesgate watch`: a certificate crossed `[watch] warn_before`,
    /// expired, or was renewed.
    pub(crate) const WATCH_CERT: &str = "4564ab5d5aab446782529b813c71593e";
    /// `kesgate watch`: MinIO's env file stopped or started matching.
    pub(crate) const WATCH_ENV: &str = "561ad573fc6f4f82bfbb4cbb16457da2";
    /// `kesgate watch`: the fleet fingerprint changed.
    pub(crate) const WATCH_FINGERPRINT: &str = "003ab932ef364b7d8f6d70051adffa6c";
    /// `kesgate watch`: the configuration stopped or started loading.
    pub(crate) const WATCH_CONFIG: &str = "06ffa953d9594679b1a0eb19eda0e00d";
    /// `kesgate watch`: the metrics file cannot be written (or can again).
    pub(crate) const WATCH_TEXTFILE: &str = "c8276c298ac64dda97d08eaf05b2f144";
    /// `kesgate watch`: a round was skipped, another still holds the lock
    /// (or rounds run again).
    pub(crate) const WATCH_SKIPPED: &str = "5b0e3c7f41a94d2e9c6b8f1d20a7e4c3";
    /// `kesgate watch`: a link of the chain cannot be looked at (or can
    /// again).
    pub(crate) const WATCH_LINK: &str = "4276cd01c0f34b6a8eec2760b4e7f839";

    /// Every MESSAGE_ID, for the catalog check.
    #[cfg(test)]
    pub(crate) const ALL: [&str; 25] = [
        KES_READY,
        KES_NOT_READY,
        WAIT_GAVE_UP,
        IDENTITY_REJECTED,
        TLS_UNTRUSTED,
        FAILED,
        ENV_CHANGED,
        ENV_UNCHANGED,
        KEY_CREATED,
        KEY_EXISTS,
        BUCKET_OUTCOME,
        KES_UNIT,
        DESCRIBE_DENIED,
        VAULT_STATE,
        CERT_EXPIRING,
        WATCH_KES,
        WATCH_VAULT,
        WATCH_KEY,
        WATCH_CERT,
        WATCH_ENV,
        WATCH_FINGERPRINT,
        WATCH_CONFIG,
        WATCH_TEXTFILE,
        WATCH_SKIPPED,
        WATCH_LINK,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogTarget {
    /// The journal when stderr is connected to it, else the terminal.
    Auto,
    Journal,
    Terminal,
}

pub(crate) fn init(target: LogTarget, verbose: bool) {
    let level = if verbose { Level::DEBUG } else { Level::INFO };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("kesgate", level)
        .with_default(Level::WARN);
    let journal = match target {
        LogTarget::Journal => true,
        LogTarget::Terminal => false,
        LogTarget::Auto => crate::host::systemd::stderr_is_journal(),
    };
    if journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_field_prefix(None)
                    .with_syslog_identifier("kesgate".into());
                tracing_subscriber::registry()
                    .with(layer.with_filter(filter))
                    .init();
                return;
            }
            Err(e) => eprintln!("kesgate: journal not available ({e}); logging to stderr"),
        }
    }
    let plain = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .event_format(PlainLine);
    tracing_subscriber::registry()
        .with(plain.with_filter(filter))
        .init();
}

/// `warning: <message>`: the message only; the structured fields are for
/// the journal and would clutter a terminal.
struct PlainLine;

impl<S, N> FormatEvent<S, N> for PlainLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let prefix = match *event.metadata().level() {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            Level::DEBUG | Level::TRACE => "debug: ",
            Level::INFO => "",
        };
        let mut message = MessageOnly(String::new());
        event.record(&mut message);
        // Every line of a multi-line entry carries the prefix on a terminal.
        for line in message.0.lines() {
            writeln!(w, "kesgate: {prefix}{line}")?;
        }
        Ok(())
    }
}

struct MessageOnly(String);

impl tracing::field::Visit for MessageOnly {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            // tracing hands the message over as `format_args!`, whose Debug
            // is its text (no quotes, no escapes): not a Rust value shape.
            self.0 = format!("{value:?}");
        }
    }
}

/// Logs a failure as one entry (one MESSAGE_ID, one state change): the
/// message, the fix, and each cause not already quoted, one per line.
pub(crate) fn log_failure(
    message_id: &str,
    kind: &str,
    endpoint: Option<&str>,
    err: &(dyn std::error::Error + 'static),
) {
    let mut lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // Causes our messages already quote are not repeated.
        if !lines.iter().any(|l| l.contains(&text)) {
            lines.push(format!("  caused by: {text}"));
        }
        cause = c.source();
    }
    tracing::error!(
        message_id,
        kesgate_error_kind = kind,
        kesgate_endpoint = endpoint,
        "{}",
        lines.join("\n")
    );
}

#[cfg(test)]
mod tests {
    /// Every MESSAGE_ID has a catalog entry, so `journalctl -x` explains it.
    #[test]
    fn every_message_id_is_in_the_catalog() {
        let catalog = include_str!("../packaging/kesgate.catalog");
        for id in super::ids::ALL {
            assert_eq!(id.len(), 32);
            assert!(
                catalog.contains(&format!("-- {id}\n")),
                "{id} missing from the catalog"
            );
        }
    }
}
