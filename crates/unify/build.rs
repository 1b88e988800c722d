//! Empty: it exists so that `[build-dependencies]` unify syn's features
//! with the proc-macros' (see Cargo.toml).
fn main() {}
