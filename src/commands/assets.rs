//! `kesgate assets DIR` (hidden): the man pages and the bash, zsh and fish
//! completions. kesgate(8) and the completions are generated from the same
//! clap definition the binary parses with (and its exit codes from the one
//! table in crate::error), so they never drift from the real options;
//! kesgate.toml(5) and kesgate.service(8) are written by hand
//! (packaging/man/), and tests hold them to the configuration keys and the
//! units.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use clap::{Arg, Command, CommandFactory};
use clap_complete::Shell;

use super::Outcome;
use crate::cli::Cli;
use crate::error::EXIT_CODES;

/// The pages written by hand, shipped as they are.
const HAND_WRITTEN: [(&str, &str); 2] = [
    (
        "kesgate.toml.5",
        include_str!("../../packaging/man/kesgate.toml.5"),
    ),
    (
        "kesgate.service.8",
        include_str!("../../packaging/man/kesgate.service.8"),
    ),
];

pub(crate) fn run(dir: &Path) -> io::Result<Outcome> {
    write(dir)?;
    Ok(Outcome::Done)
}

fn write(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut cmd = Cli::command().name("kesgate");
    cmd.build();
    fs::write(dir.join("kesgate.8"), main_page(&cmd))?;
    for (name, text) in HAND_WRITTEN {
        fs::write(dir.join(name), text.replacen("\"\"", &release_date(), 1))?;
    }
    for (shell, file) in [
        (Shell::Bash, "kesgate.bash"),
        (Shell::Zsh, "_kesgate"),
        (Shell::Fish, "kesgate.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "kesgate", &mut out);
        fs::write(dir.join(file), out)?;
    }
    Ok(())
}

/// The pages' date: the release's, from the packaging changelog's first
/// entry (`Sun, 06 Dec 2026 …` → `2026-12-06`), so a rebuild gives the
/// same pages.
fn release_date() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let changelog = include_str!("../../packaging/debian/changelog");
    let date = changelog
        .lines()
        .find_map(|l| l.strip_prefix(" -- "))
        .and_then(|l| l.split_once("  "))
        .map(|(_, d)| d.split_whitespace().collect::<Vec<_>>());
    match date.as_deref() {
        Some([_, day, month, year, ..]) => {
            let m = MONTHS.iter().position(|m| m == month).map_or(0, |m| m + 1);
            format!("{year}-{m:02}-{day:0>2}")
        }
        _ => "\"\"".to_owned(),
    }
}

/// Text for a roff line: backslashes and leading control characters
/// escaped, so no text of the help can become a request.
fn text(s: &str) -> String {
    let s = s.replace('\\', "\\e");
    s.lines()
        .map(|l| {
            if l.starts_with(['.', '\'']) {
                format!("\\&{l}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An option's name in bold, with `-` escaped as roff wants in names.
fn flag(a: &Arg) -> String {
    let mut names = Vec::new();
    if let Some(s) = a.get_short() {
        names.push(format!("\\fB\\-{s}\\fR"));
    }
    if let Some(l) = a.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", l.replace('-', "\\-")));
    }
    let mut s = names.join(", ");
    if a.get_action().takes_values() {
        let value = a
            .get_value_names()
            .and_then(|v| v.first())
            .map_or_else(|| a.get_id().as_str().to_uppercase(), |v| v.to_string());
        if a.is_positional() {
            s = format!("\\fI{value}\\fR");
        } else {
            s.push_str(&format!(" \\fI{value}\\fR"));
        }
    }
    s
}

fn shown(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help")
}

/// The commands a user runs: every visible subcommand, a group's
/// members in its place.
fn commands(cmd: &Command) -> Vec<(String, &Command)> {
    let mut out = Vec::new();
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let nested: Vec<&Command> = sub
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .collect();
        if nested.is_empty() {
            out.push((sub.get_name().to_owned(), sub));
        }
        for n in nested {
            out.push((format!("{} {}", sub.get_name(), n.get_name()), n));
        }
    }
    out
}

fn main_page(cmd: &Command) -> String {
    let mut p = String::new();
    let version = env!("CARGO_PKG_VERSION");
    let _ = writeln!(
        p,
        ".TH KESGATE 8 {} \"kesgate {version}\" \"System Administration\"",
        release_date()
    );
    p.push_str(".SH NAME\nkesgate \\- start MinIO only once KES can serve its keys\n");
    p.push_str(".SH SYNOPSIS\n");
    for (i, (name, sub)) in commands(cmd).into_iter().enumerate() {
        if i > 0 {
            p.push_str(".br\n");
        }
        let _ = write!(p, ".B kesgate\n.RI [ global\\ options ]\n.B {name}\n");
        for a in shown(sub) {
            let _ = writeln!(p, "[{}]", flag(a));
        }
    }
    p.push_str(".SH DESCRIPTION\n");
    if let Some(about) = cmd.get_long_about() {
        p.push_str(&text(&about.to_string()).replace("\n\n", "\n.PP\n"));
        p.push('\n');
    }
    p.push_str(".SH COMMANDS\n");
    for (name, sub) in commands(cmd) {
        let _ = writeln!(p, ".SS \"kesgate {name}\"");
        let about = sub.get_long_about().or(sub.get_about());
        if let Some(about) = about {
            p.push_str(&text(&about.to_string()));
            p.push('\n');
        }
        for a in shown(sub) {
            let help = a.get_long_help().or(a.get_help());
            let _ = writeln!(p, ".TP\n{}", flag(a));
            if let Some(help) = help {
                p.push_str(&text(&help.to_string()));
                p.push('\n');
            }
        }
    }
    p.push_str(".SH \"GLOBAL OPTIONS\"\n");
    for a in cmd.get_arguments().filter(|a| a.is_global_set()) {
        let _ = writeln!(p, ".TP\n{}", flag(a));
        if let Some(help) = a.get_help() {
            p.push_str(&text(&help.to_string()));
            p.push('\n');
        }
    }
    p.push_str(".SH \"EXIT STATUS\"\n");
    for e in &EXIT_CODES {
        let _ = writeln!(p, ".TP\n.B {}\n{}.", e.label(), text(e.meaning));
    }
    p.push_str(
        ".TP\n.B SIGTERM, SIGINT\nKilled by that signal: stopped, in any state, within milliseconds.\n",
    );
    p.push_str(STATIC_SECTIONS);
    p
}

/// ENVIRONMENT, FILES, EXAMPLES and SEE ALSO.
const STATIC_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
.B KESGATE_CONFIG
The configuration file when \-\-config is not given.
Ignored when kesgate runs in MinIO's unit (the preflight): MinIO's
settings never choose kesgate's configuration.
.TP
.BR RUNTIME_DIRECTORY ", " STATE_DIRECTORY ", " CREDENTIALS_DIRECTORY
Set by kesgate's own units; in MinIO's unit kesgate uses
.IR /run/kesgate ,
.I /var/lib/kesgate
and kesgate.service's credentials instead.
.TP
.B COLUMNS
The width help is wrapped to.
.SH FILES
.TP
.I /etc/kesgate/kesgate.toml
The configuration; see
.BR kesgate.toml (5).
.TP
.I /etc/kesgate/kes-api-key
The KES API key (mode 0600), by convention.
.TP
.I /etc/default/minio
MinIO's environment file, into which the KES variables are rendered.
.TP
.I /usr/lib/systemd/system/minio.service.d/kesgate.conf
The drop-in that runs the preflight before every start of MinIO; see
.BR kesgate.service (8).
.TP
.I /usr/share/doc/kesgate/examples/kesgate.toml
An example configuration.
.SH EXAMPLES
Adopt what a host set up by hand uses, and check it:
.PP
.nf
kesgate init \-\-adopt \-\-dry\-run
kesgate init \-\-adopt
kesgate render \-\-check
systemctl restart minio
kesgate status
.fi
.PP
A new API key and the KES policy for it:
.PP
.nf
kesgate identity new \-\-policy minio
.fi
.SH "SEE ALSO"
.BR kesgate.toml (5),
.BR kesgate.service (8),
.BR systemctl (1),
.BR journalctl (1)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> String {
        let mut cmd = Cli::command().name("kesgate");
        cmd.build();
        main_page(&cmd)
    }

    #[test]
    fn the_date_is_the_releases() {
        assert!(regex_free_date(&release_date()), "{}", release_date());
    }

    fn regex_free_date(d: &str) -> bool {
        let b = d.as_bytes();
        d.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && d.replace('-', "").bytes().all(|c| c.is_ascii_digit())
    }

    /// kesgate(8) names every command with its options, and every exit code.
    #[test]
    fn the_main_page_has_every_command_and_exit_code() {
        let page = page();
        let mut cmd = Cli::command();
        cmd.build();
        for (name, sub) in commands(&cmd) {
            assert!(page.contains(&format!(".SS \"kesgate {name}\"")), "{name}");
            for a in shown(sub) {
                assert!(page.contains(&flag(a)), "{name}: {}", flag(a));
            }
        }
        for e in &EXIT_CODES {
            assert!(
                page.contains(&format!(".TP\n.B {}", e.label())),
                "{}",
                e.code
            );
        }
        for section in [
            "SYNOPSIS",
            "\"EXIT STATUS\"",
            "ENVIRONMENT",
            "FILES",
            "EXAMPLES",
            "\"SEE ALSO\"",
        ] {
            assert!(page.contains(&format!(".SH {section}\n")), "{section}");
        }
    }

    /// kesgate.toml(5) documents every key the configuration accepts: the
    /// fields of its raw form, section by section.
    #[test]
    fn the_configuration_page_has_every_key() {
        let page = HAND_WRITTEN[0].1;
        let raw = include_str!("../config/raw.rs");
        let sections = [
            ("RawKes", "[kes]"),
            ("RawWait", "[wait]"),
            ("RawEnvFile", "[env_file]"),
            ("RawMinio", "[minio]"),
            ("RawVault", "[vault]"),
            ("RawKey", "[[keys]]"),
            ("RawBucket", "[[buckets]]"),
            ("RawWatch", "[watch]"),
        ];
        for (strukt, section) in sections {
            let body = raw
                .split(&format!(" struct {strukt} {{"))
                .nth(1)
                .unwrap_or_else(|| panic!("{strukt}"))
                .split("\n}")
                .next()
                .unwrap();
            let text = page
                .split(&format!(".SH \"{section}\""))
                .nth(1)
                .unwrap_or_else(|| panic!("no {section} section"))
                .split("\n.SH ")
                .next()
                .unwrap();
            for field in body
                .lines()
                .filter_map(|l| l.trim().strip_prefix("pub "))
                .filter_map(|l| l.split_once(':'))
                .map(|(f, _)| f)
            {
                assert!(
                    text.lines()
                        .any(|l| l.starts_with(".B") && l.contains(field)),
                    "kesgate.toml(5) {section} lacks {field}"
                );
            }
        }
    }

    /// kesgate.service(8) names every unit the package ships.
    #[test]
    fn the_units_page_names_every_unit() {
        let page = HAND_WRITTEN[1].1;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("units");
        for entry in fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let name = if name.ends_with(".d") {
                "kesgate.conf".to_owned()
            } else {
                name
            };
            assert!(page.contains(&name), "kesgate.service(8) lacks {name}");
        }
    }
}
