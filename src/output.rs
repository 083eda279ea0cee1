//! Standard output for the commands that print (identity, status, render's
//! diff and check). A reader that went away (`kesgate identity new | head
//! -c0`) ends the command the way Unix tools end: by SIGPIPE, never a
//! panic. (Rust ignores SIGPIPE, so a plain `println!` would panic.)

use std::io::Write as _;
use std::sync::OnceLock;

/// Why standard output stopped taking text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The reader went away: the command ends by SIGPIPE, as Unix tools do.
    BrokenPipe,
    /// Another error (a full disk behind a redirect): said once.
    Failed,
}

static CLOSED: OnceLock<Closed> = OnceLock::new();

/// Writes to standard output; after a failure nothing more is written,
/// and `main` ends the process accordingly ([`closed`]).
pub(crate) fn write(text: std::fmt::Arguments) {
    if CLOSED.get().is_some() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        let closed = if e.kind() == std::io::ErrorKind::BrokenPipe {
            Closed::BrokenPipe
        } else {
            eprintln!("kesgate: cannot write to standard output: {e}");
            Closed::Failed
        };
        let _ = CLOSED.set(closed);
    }
}

/// Whether standard output failed during the command.
pub(crate) fn closed() -> Option<Closed> {
    CLOSED.get().copied()
}

/// `print!` that ends cleanly on a closed standard output.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write(format_args!($($arg)*)) };
}

/// `println!` that ends cleanly on a closed standard output.
macro_rules! outln {
    () => { $crate::output::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write(format_args!("{}\n", format_args!($($arg)*))) };
}
