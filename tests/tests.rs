//! The one integration-test binary: every test runs the real `pixmill`
//! binary (or, for the fuzz net, the library crates it is built from),
//! with the shared harness in `common`.

mod common;

mod backends;
mod colour;
mod convert;
mod dataset;
mod edges;
mod encoders;
mod fetch;
mod fetch_adaptive;
mod formats;
mod metadata;
mod packaging;
mod resume;
mod robustness;
mod shards;
mod terminal;
mod truncated;
