//! The one integration-test binary: every test runs the real `pixmill`
//! binary, with the shared harness in `common` (the loopback server, the
//! run helpers, generated images). Tests are grouped by what a user sees.

mod common;

mod converting;
mod dataset_resume;
mod datasets;
mod downloads;
mod formats_colour;
mod layout;
mod objects;
mod output_safety;
mod resume;
mod shards;
mod terminal_shell;
