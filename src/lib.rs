//! pixmill: a parallel batch image converter and downloader.
//!
//! Work that waits gets threads; work that computes gets cores. The stages
//! (source → I/O threads → CPU workers → sink) are joined by bounded
//! channels, so they overlap and memory stays flat however long the list.

pub mod cli;
pub mod config;
pub mod error;
pub mod fetch;
pub mod hashing;
pub mod imaging;
pub mod io_stage;
pub mod item;
pub mod naming;
pub mod output;
pub mod pipeline;
pub mod process;
pub mod report;
pub mod signal;
pub mod source;
pub mod store;

use clap::Parser;
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
    let cli = cli::Cli::parse();
    if let cli::Command::Worker(args) = &cli.command {
        process::worker::serve(args.memory_mb)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(config) = config::Config::from_cli(cli.command)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let stop = signal::Stop::install()?;
    let outcome = pipeline::run(&config, &stop)?;
    let code = if outcome.interrupted {
        exit::INTERRUPTED
    } else if outcome.counts.failed > 0 {
        exit::SOME_FAILED
    } else {
        exit::OK
    };
    Ok(ExitCode::from(code))
}
