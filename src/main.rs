//! The `pixmill` binary: clap's argv becomes the core's settings, the run's
//! outcome becomes the exit status. Everything else is in `pixmill-core`.

mod app;
mod build_info;
mod cli;
mod docs;
mod settings;

use std::process::ExitCode;

fn main() -> ExitCode {
    raise_open_files_limit();
    match app::run() {
        Ok(code) => code,
        Err(err) => {
            pixmill_base::eprint_line(&format!("pixmill: {err:#}"));
            ExitCode::from(app::exit::USAGE)
        }
    }
}

/// Lifts the soft limit on open files to the hard limit, as Go programs do
/// at start. A download run holds a socket per connection, in use or idle,
/// besides its inputs and outputs; Debian's usual soft limit of 1024
/// (systemd's default, under a hard limit of 524288) is what a list over
/// a thousand sites reached within seconds, after which every new
/// connection and output failed with "Too many open files". Worker
/// processes inherit the raised limit. Nothing happens where it cannot be
/// raised.
fn raise_open_files_limit() {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct we own and pass; setrlimit
        // only reads it, and changes only this process's own limit.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}
