//! The `pixmill` binary: a thin shell around the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    match pixmill::run() {
        Ok(code) => code,
        Err(err) => {
            pixmill::report::eprint_line(&format!("pixmill: {err:#}"));
            ExitCode::from(pixmill::exit::USAGE)
        }
    }
}
