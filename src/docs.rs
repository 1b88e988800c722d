//! Shell completions and the man page, generated from the one clap definition
//! in `cli`, so they cannot drift from the options the binary accepts.

use crate::cli::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use roff::{bold, roman, Roff};
use std::io;

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    // clap_complete panics on a failed write, so it writes to memory and the
    // caller deals with a closed stdout.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut public_command(), "pixmill", &mut script);
    script
}

/// The man page (roff): one page with every subcommand's options, so
/// `man pixmill` and a search for `--resize` find everything.
///
/// clap_mangen renders one page per command; its sections for each
/// subcommand are placed under a `PIXMILL CONVERT`-style heading, their own
/// headings demoted to subsections.
pub fn man_page() -> io::Result<Vec<u8>> {
    let mut cmd = public_command().disable_help_subcommand(true);
    cmd.build();
    let root = Man::new(cmd.clone());
    let mut page = Vec::new();
    root.render_title(&mut page)?;
    root.render_name_section(&mut page)?;
    root.render_synopsis_section(&mut page)?;
    root.render_description_section(&mut page)?;
    root.render_options_section(&mut page)?;
    let subcommands: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .collect();
    page.extend(command_list(&subcommands).render().into_bytes());
    for sub in subcommands {
        page.extend(subcommand_section(sub)?);
    }
    root.render_version_section(&mut page)?;
    Ok(page)
}

/// The command line as users see it, without the internal worker
/// subcommand: the completion generators would offer hidden subcommands too,
/// and clap cannot remove one, so the root is rebuilt around the visible ones.
pub fn public_command() -> clap::Command {
    let full = Cli::command();
    let visible = full
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned();
    let mut root = clap::Command::new(full.get_name().to_owned())
        .about(full.get_about().cloned().unwrap_or_default())
        .long_about(full.get_long_about().cloned().unwrap_or_default())
        .subcommand_required(true)
        .subcommands(visible);
    if let Some(version) = full.get_version() {
        root = root.version(version.to_owned());
    }
    root
}

/// The COMMANDS section: each subcommand with its one-line summary.
fn command_list(subcommands: &[&clap::Command]) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in subcommands {
        roff.control("TP", []);
        roff.text([bold(format!("pixmill {}", sub.get_name()))]);
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        roff.text([roman(format!("{about} (see PIXMILL {} below)", upper(sub)))]);
    }
    roff
}

fn subcommand_section(sub: &clap::Command) -> io::Result<Vec<u8>> {
    let man = Man::new(sub.clone());
    let mut sections = Vec::new();
    man.render_synopsis_section(&mut sections)?;
    man.render_description_section(&mut sections)?;
    man.render_options_section(&mut sections)?;
    let mut heading = Roff::new();
    heading.control("SH", [format!("PIXMILL {}", upper(sub)).as_str()]);
    let mut out = heading.render().into_bytes();
    out.extend(demote_sections(&String::from_utf8_lossy(&sections)).into_bytes());
    Ok(out)
}

fn upper(sub: &clap::Command) -> String {
    sub.get_name().to_uppercase()
}

/// Turns `.SH` section headings into `.SS` subsections (roff requests always
/// start a line).
fn demote_sections(roff: &str) -> String {
    roff.lines()
        .map(|line| match line.strip_prefix(".SH ") {
            Some(title) => format!(".SS {title}\n"),
            None => format!("{line}\n"),
        })
        .collect()
}
