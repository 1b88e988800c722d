//! Fetcher tests against local tiny_http and raw TCP servers.
