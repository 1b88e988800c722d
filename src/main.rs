//! The `pixmill` binary: clap's argv becomes the core's settings, the run's
//! outcome becomes the exit status. Everything else is in `pixmill-core`.

mod app;
mod build_info;
mod cli;
mod docs;
mod settings;

use std::process::ExitCode;

fn main() -> ExitCode {
    match app::run() {
        Ok(code) => code,
        Err(err) => {
            pixmill_base::eprint_line(&format!("pixmill: {err:#}"));
            ExitCode::from(app::exit::USAGE)
        }
    }
}
