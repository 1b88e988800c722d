//! No code: see this crate's Cargo.toml. Its dependencies only ask for
//! features, so that every build of pixmill compiles the shared crates the
//! same way.

#![warn(missing_docs)]
