//! Downloads, against the loopback test server: `fetch` and `convert` over
//! URLs, retries and limits, and per-host concurrency that finds its level.

mod adaptive;
mod connections;
mod fetch;
mod gated;
mod partial;
mod polite;
