//! What every pixmill crate shares, and nothing else: the item and setup
//! errors, digests and stable hashes, panics caught on purpose, and words
//! for numbers. It depends on no other pixmill crate.

#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub mod error;
pub mod hashing;
pub mod panics;
pub mod units;

pub use units::{eprint_line, human_bytes, io_reason};
