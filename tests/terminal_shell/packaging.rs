//! What the wheel and `cargo install` ship beside the binary: shell
//! completions and the man page (every option of every subcommand, and the
//! copies under packaging/ kept current), `--version` and `pixmill formats`.

use crate::common::{pixmill, Said};
use pixmill_imaging::Format;
use std::fs;
use std::path::{Path, PathBuf};

fn stdout_of(args: &[&str]) -> String {
    let out = pixmill().args(args).output().unwrap();
    assert!(out.status.success(), "pixmill {args:?} failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Each visible subcommand with the long options it accepts, as its
/// `--help` lists them (so a new option is checked without touching this
/// test, and hidden ones are left out as clap leaves them out).
fn long_options_by_subcommand() -> Vec<(String, Vec<String>)> {
    let top = stdout_of(&["--help"]);
    let subs: Vec<String> = block(&top, "Commands:\n", "\n\n")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    assert!(
        subs.len() >= 5,
        "convert, fetch, formats, completions, man: {subs:?}"
    );
    subs.into_iter()
        .map(|sub| {
            let help = stdout_of(&[&sub, "--help"]);
            let longs = help
                .lines()
                // An option's own line is indented by at most 6; wrapped
                // descriptions sit further right.
                .filter(|line| line.len() - line.trim_start().len() <= 6)
                .filter_map(|line| {
                    let first = line.trim_start().trim_start_matches(|c| c != '-');
                    let option = first
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .find(|w| w.starts_with("--"))?;
                    let long = option
                        .trim_start_matches("--")
                        .split(['=', '[', '<'])
                        .next()?;
                    (!long.is_empty()).then(|| long.to_owned())
                })
                .collect();
            (sub, longs)
        })
        .collect()
}

/// The text from the first line containing `start` up to the first line
/// after it containing `end`.
fn block<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not found"));
    let rest = &text[from + start.len()..];
    let to = rest.find(end).unwrap_or(rest.len());
    &rest[..to]
}

#[test]
fn every_long_option_of_every_subcommand_is_completed_and_documented() {
    let bash = stdout_of(&["completions", "bash"]);
    let zsh = stdout_of(&["completions", "zsh"]);
    let fish = stdout_of(&["completions", "fish"]);
    let man = stdout_of(&["man"]);
    let mut checked = 0;
    for (sub, longs) in long_options_by_subcommand() {
        let bash_opts = block(&bash, &format!("pixmill__subcmd__{sub})\n"), "\n");
        let zsh_args = block(&zsh, &format!("({sub})\n"), "\n;;");
        let fish_lines: Vec<&str> = fish
            .lines()
            .filter(|line| line.contains(&format!("__fish_pixmill_using_subcommand {sub}\"")))
            .collect();
        let man_section = block(
            &man,
            &format!(".SH \"PIXMILL {}\"", sub.to_uppercase()),
            "\n.SH ",
        );
        for long in longs {
            let flag = format!("--{long}");
            assert!(
                bash_opts
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .any(|word| word == flag),
                "bash: {sub} {flag}"
            );
            assert!(
                // `'--x`, `'*--x` (repeatable) or `'(--y)--x` (conflicts).
                zsh_args.contains(&format!("'{flag}"))
                    || zsh_args.contains(&format!("'*{flag}"))
                    || zsh_args.contains(&format!("){flag}=")),
                "zsh: {sub} {flag}"
            );
            assert!(
                fish_lines
                    .iter()
                    .any(|line| line.contains(&format!(" -l {long} "))
                        || line.ends_with(&format!(" -l {long}"))),
                "fish: {sub} {flag}"
            );
            // roff escapes every `-` of an option as `\-`.
            let roff_flag = flag.replace('-', "\\-");
            assert!(man_section.contains(&roff_flag), "man: {sub} {flag}");
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} options checked");
    for text in [&bash, &zsh, &fish, &man] {
        assert!(
            !text.contains("__worker"),
            "the internal worker command is not offered"
        );
    }
}

#[test]
fn bash_completes_an_option_prefix() {
    let script = stdout_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pixmill.bash");
    fs::write(&path, script).unwrap();
    // What bash does on `pixmill convert --resi<TAB>`.
    let probe = format!(
        "source {}; COMP_WORDS=(pixmill convert --resi); COMP_CWORD=2; \
         _pixmill pixmill --resi convert; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(probe)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout_text().trim(), "--resize");
}

/// The files the wheel installs into the venv's `share/`.
fn installed_files() -> Vec<(PathBuf, Vec<&'static str>)> {
    let share = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/wheel-data/data/share");
    vec![
        (share.join("man/man1/pixmill.1"), vec!["man"]),
        (
            share.join("bash-completion/completions/pixmill"),
            vec!["completions", "bash"],
        ),
        (
            share.join("zsh/site-functions/_pixmill"),
            vec!["completions", "zsh"],
        ),
        (
            share.join("fish/vendor_completions.d/pixmill.fish"),
            vec!["completions", "fish"],
        ),
    ]
}

/// The wheel ships generated copies (`pip install .` runs no build step of
/// ours); this keeps them equal to what the binary prints.
/// `PIXMILL_UPDATE_PACKAGING=1 cargo test --release --test tests packaging` rewrites them.
#[test]
fn packaged_completions_and_man_page_match_the_cli() {
    let update = std::env::var_os("PIXMILL_UPDATE_PACKAGING").is_some();
    let mut stale = Vec::new();
    for (path, args) in installed_files() {
        let current = stdout_of(&args);
        if fs::read_to_string(&path).ok().as_deref() != Some(current.as_str()) {
            if update {
                fs::write(&path, &current).unwrap();
            }
            stale.push(path.display().to_string());
        }
    }
    assert!(
        update || stale.is_empty(),
        "out of date with the CLI: {stale:?}; run `PIXMILL_UPDATE_PACKAGING=1 cargo test --release --test tests packaging` and commit them"
    );
}

fn names(supported: fn(Format) -> bool) -> String {
    let names: Vec<&str> = Format::ALL
        .iter()
        .filter(|&&f| supported(f))
        .map(|f| f.name())
        .collect();
    names.join(" ")
}

#[test]
fn version_names_the_formats_this_build_reads_and_writes() {
    let long = stdout_of(&["--version"]);
    let mut lines = long.lines();
    assert_eq!(
        lines.next(),
        Some(format!("pixmill {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    assert_eq!(
        lines.next(),
        Some(format!("reads:  {}", names(Format::can_read)).as_str())
    );
    assert_eq!(
        lines.next(),
        Some(format!("writes: {}", names(Format::can_write)).as_str())
    );
    assert!(long.contains("jpeg") && long.contains("webp"), "{long}");
    // -V stays one line for scripts.
    assert_eq!(
        stdout_of(&["-V"]),
        format!("pixmill {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn formats_lists_every_format_with_what_this_build_does() {
    let table = stdout_of(&["formats"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), Format::ALL.len(), "{table}");
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    for (row, format) in rows.iter().zip(Format::ALL) {
        let expected = [
            format.name(),
            yes_no(format.can_read()),
            yes_no(format.can_write()),
        ];
        assert_eq!(row[..3], expected, "{table}");
    }

    let json = stdout_of(&["formats", "--json"]);
    let records: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), Format::ALL.len());
    for (record, format) in records.iter().zip(Format::ALL) {
        assert_eq!(record["format"], format.name());
        assert_eq!(record["read"], format.can_read());
        assert_eq!(record["write"], format.can_write());
        assert_eq!(record["extension"], format.extension());
    }
}

#[test]
fn generated_text_to_a_closed_pipe_is_a_quiet_success() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pixmill"))
        .arg("man")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", out.stderr_text());
}
