//! The run from argv to exit status: parse, dispatch the subcommands that
//! are not runs, build the settings, run, and fold the outcome into the one
//! exit status the shell sees.

use crate::{build_info, cli, docs, settings};
use clap::{CommandFactory, FromArgMatches};
use std::io::{self, Write};
use std::process::ExitCode;

/// Exit statuses, decided here and nowhere else.
pub mod exit {
    pub const OK: u8 = 0;
    pub const SOME_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INTERRUPTED: u8 = 130;
}

/// Parses the command line and runs; the exit status folds every item's
/// outcome.
pub fn run() -> anyhow::Result<ExitCode> {
    pixmill_base::panics::install_hook();
    let cli = parse_args();
    match &cli.command {
        cli::Command::Worker(args) => {
            pixmill_core::serve_worker(args.memory_mb)?;
            return Ok(ExitCode::SUCCESS);
        }
        cli::Command::Formats(args) => {
            let mut table = Vec::new();
            build_info::write_formats(&mut table, args.json)?;
            return print_stdout(&table);
        }
        cli::Command::Completions(args) => return print_stdout(&docs::completions(args.shell)),
        cli::Command::Man => return print_stdout(&docs::man_page()?),
        cli::Command::Convert(_) | cli::Command::Fetch(_) => {}
    }
    let Some(config) = settings::config_from_cli(cli.command)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let stop = pixmill_core::Stop::install()?;
    let outcome = pixmill_core::run(&config, &stop)?;
    let code = if outcome.interrupted {
        exit::INTERRUPTED
    } else if outcome.found_nothing {
        // Nothing was done, as with a usage error.
        exit::USAGE
    } else if outcome.counts.failed > 0 || outcome.broke {
        // Work was done, so not 2; but not everything, or not recorded.
        exit::SOME_FAILED
    } else {
        exit::OK
    };
    Ok(ExitCode::from(code))
}

/// The command line, with `--version` naming what this build can read and
/// write (known only at run time, so not in the derive attributes).
fn parse_args() -> cli::Cli {
    let matches = cli::Cli::command()
        .long_version(build_info::long_version())
        .get_matches();
    cli::Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
}

/// Writes generated text to stdout; a closed pipe (`pixmill man | head`) is a
/// quiet success, as for records.
fn print_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(ExitCode::from(exit::OK)),
    }
}
