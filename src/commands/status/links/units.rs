//! The units of the chain, as systemd reports them over D-Bus.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Link, Report};
use crate::commands::status::layout::wrap;
use crate::host::systemd::bus::UnitState;

pub(super) struct Units;

impl Link for Units {
    fn name(&self) -> &'static str {
        "units"
    }

    /// The watch runs under systemd, on its bus: without one (a test
    /// host) the metric says so, the journal is not told every time.
    fn told_when_unchecked(&self) -> bool {
        false
    }

    fn text(&self, r: &Report) -> String {
        let Some(units) = &r.units else {
            return String::new();
        };
        let mut s = String::from("\nunits:\n");
        for u in units {
            for line in format!("  {}", unit_line(u)).lines() {
                let _ = writeln!(s, "{}", wrap(line, &" ".repeat(28)));
            }
        }
        s
    }
}

fn unit_line(u: &UnitState) -> String {
    if !u.exists() {
        return format!("{:24} not installed", u.name);
    }
    let mut line = format!(
        "{:24} {:22}",
        u.name,
        format!("{} ({})", u.active_state, u.sub_state)
    );
    if u.since_usec > 0 {
        let at = UNIX_EPOCH + Duration::from_micros(u.since_usec);
        let ago = SystemTime::now().duration_since(at).unwrap_or_default();
        let ago = Duration::from_secs(ago.as_secs());
        let _ = write!(
            line,
            " since {} ({} ago)",
            humantime::format_rfc3339_seconds(at),
            humantime::format_duration(ago)
        );
    }
    if let Some(result) = u.result.as_deref().filter(|r| *r != "success") {
        let _ = write!(line, ", result {result}");
    }
    if u.restarts.is_some_and(|n| n > 0) {
        let _ = write!(line, ", {} restarts", u.restarts.unwrap_or(0));
    }
    if u.name == "minio.service" {
        let drop_in = u
            .drop_ins
            .iter()
            .any(|d| d.ends_with("minio.service.d/kesgate.conf"));
        line.push_str(if drop_in {
            ", kesgate drop-in in effect"
        } else {
            ", NO kesgate drop-in"
        });
    }
    if let Some(text) = &u.status_text {
        let _ = write!(line, "\n  {:24} \"{text}\"", "");
    }
    line
}
