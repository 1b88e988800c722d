//! The terminal and the shell: the progress display on a real terminal,
//! and what ships beside the binary (completions, the man page).

mod packaging;
mod progress;
