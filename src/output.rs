//! Standard output for the commands that print (identity, status, render's
//! diff and check). A reader that went away (`kesgate identity new | head
//! -c0`) ends the command the way Unix tools end: by SIGPIPE, never a
//! panic. (Rust ignores SIGPIPE, so a plain `println!` would panic.)

use std::io::Write as _;

pub fn write(text: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            die_by_sigpipe();
        }
        // Another output error (a full disk behind a redirect): say so once.
        eprintln!("kesgate: cannot write to standard output: {e}");
        std::process::exit(i32::from(crate::error::EX_CANTCREAT));
    }
}

fn die_by_sigpipe() -> ! {
    use nix::sys::signal::{SigHandler, Signal, raise, signal};
    // SAFETY: restoring the default disposition has no handler to race with.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    let _ = raise(Signal::SIGPIPE);
    std::process::exit(141)
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

/// A duration as an operator reads it: to the millisecond below a minute,
/// to the second above (never "10s 24ms 33us 497ns").
pub fn duration(d: std::time::Duration) -> String {
    let d = if d >= std::time::Duration::from_secs(60) {
        std::time::Duration::from_secs(d.as_secs())
    } else {
        std::time::Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(d).to_string()
}
