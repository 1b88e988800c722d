//! `--hash`: a digest of each item's input bytes (as downloaded or read),
//! for records and dataset metadata, so a dataset can be deduplicated or
//! checked without the originals.

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;

/// A digest the user can ask for (`--hash`) or a manifest can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgo {
    /// SHA-256.
    Sha256,
    /// MD5 (as LAION-style lists carry it).
    Md5,
}

impl HashAlgo {
    /// The lowercase hex digest of `data`.
    pub fn of_bytes(self, data: &[u8]) -> String {
        match self {
            HashAlgo::Sha256 => hex(&Sha256::digest(data)),
            HashAlgo::Md5 => hex(&Md5::digest(data)),
        }
    }

    /// The lowercase hex digest of a file's bytes, read in blocks.
    pub fn of_file(self, path: &Path) -> io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        match self {
            HashAlgo::Sha256 => digest_reader::<Sha256>(&mut file),
            HashAlgo::Md5 => digest_reader::<Md5>(&mut file),
        }
    }
}

fn digest_reader<D: Digest>(reader: &mut impl Read) -> io::Result<String> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf)? {
            0 => return Ok(hex(&hasher.finalize())),
            n => hasher.update(&buf[..n]),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stable 64-bit hash of `bytes` (the first 8 bytes of its SHA-256): the
/// same on every run and machine, as `--shard`, name disambiguation and
/// settings stamps need (std's hasher promises neither).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            HashAlgo::Sha256.of_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            HashAlgo::Md5.of_bytes(b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
