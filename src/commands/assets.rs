//! `kesgate assets DIR` (hidden): the man page kesgate.8 and the bash, zsh
//! and fish completions, generated from the same clap definition the
//! binary parses with, so they never drift from the real options.

use std::fs;
use std::io;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Outcome;
use crate::cli::Cli;

pub fn run(dir: &Path) -> io::Result<Outcome> {
    write(dir)?;
    Ok(Outcome::Done)
}

fn write(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    // Section 8: kesgate is run by units and administrators.
    let cmd = Cli::command().name("kesgate");
    let man = clap_mangen::Man::new(cmd.clone()).section("8");
    let mut page = Vec::new();
    man.render(&mut page)?;
    fs::write(dir.join("kesgate.8"), page)?;
    // The main page refers to kesgate-SUBCOMMAND(8): ship those too.
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = format!("kesgate-{}", sub.get_name());
        // clap wants a 'static name; this command runs once and exits.
        let sub = sub.clone().name(&*name.clone().leak());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).section("8").render(&mut page)?;
        fs::write(dir.join(format!("{name}.8")), page)?;
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
