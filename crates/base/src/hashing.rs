//! `--hash`: a digest of each item's input bytes (as downloaded or read),
//! for records and dataset metadata, so a dataset can be deduplicated or
//! checked without the originals; and the digests a manifest's hash columns
//! expect of a download ([`Checksum`]).

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
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
    /// SHA-1.
    Sha1,
    /// SHA-512.
    Sha512,
}

impl HashAlgo {
    /// Every algorithm, in the order manifest columns are looked up.
    pub const ALL: [HashAlgo; 4] = [
        HashAlgo::Md5,
        HashAlgo::Sha1,
        HashAlgo::Sha256,
        HashAlgo::Sha512,
    ];

    /// Its lowercase name, which is also the manifest column it is read from
    /// by default: `md5`, `sha1`, `sha256`, `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    /// The algorithm a name stands for (case-insensitive; `sha-256` too).
    pub fn parse(name: &str) -> Option<HashAlgo> {
        let name = name.trim().to_ascii_lowercase().replace('-', "");
        HashAlgo::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Hex digits in its digest.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlgo::Md5 => 32,
            HashAlgo::Sha1 => 40,
            HashAlgo::Sha256 => 64,
            HashAlgo::Sha512 => 128,
        }
    }

    /// The lowercase hex digest of `data`.
    pub fn of_bytes(self, data: &[u8]) -> String {
        let mut running = self.start();
        running.update(data);
        running.finish()
    }

    /// The lowercase hex digest of a file's bytes, read in blocks.
    pub fn of_file(self, path: &Path) -> io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let mut running = self.start();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match file.read(&mut buf)? {
                0 => return Ok(running.finish()),
                n => running.update(&buf[..n]),
            }
        }
    }

    /// A digest to feed in pieces.
    pub fn start(self) -> Running {
        match self {
            HashAlgo::Md5 => Running::Md5(Md5::new()),
            HashAlgo::Sha1 => Running::Sha1(Sha1::new()),
            HashAlgo::Sha256 => Running::Sha256(Sha256::new()),
            HashAlgo::Sha512 => Running::Sha512(Box::default()),
        }
    }
}

/// A digest under way, fed as the bytes arrive.
#[derive(Clone)]
pub enum Running {
    /// MD5.
    Md5(Md5),
    /// SHA-1.
    Sha1(Sha1),
    /// SHA-256.
    Sha256(Sha256),
    /// SHA-512 (boxed: its state is the largest).
    Sha512(Box<Sha512>),
}

impl Running {
    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Running::Md5(h) => h.update(data),
            Running::Sha1(h) => h.update(data),
            Running::Sha256(h) => h.update(data),
            Running::Sha512(h) => h.update(data),
        }
    }

    /// The lowercase hex digest of everything fed.
    pub fn finish(self) -> String {
        match self {
            Running::Md5(h) => hex(&h.finalize()),
            Running::Sha1(h) => hex(&h.finalize()),
            Running::Sha256(h) => hex(&h.finalize()),
            Running::Sha512(h) => hex(&h.finalize()),
        }
    }
}

/// A digest a download must have: from a manifest's `md5`, `sha1`,
/// `sha256` or `sha512` column, or one `--hash-col` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// Which digest.
    pub algo: HashAlgo,
    /// The expected digest as written (checked by [`Checksum::normalized`]).
    pub hex: String,
}

impl Checksum {
    /// The expected digest in lowercase, or why it can never match (wrong
    /// length, not hex): such a row fails before its download.
    pub fn normalized(&self) -> Result<Checksum, String> {
        let hex = self.hex.trim();
        let want = self.algo.hex_len();
        if hex.len() == want && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Checksum {
                algo: self.algo,
                hex: hex.to_ascii_lowercase(),
            });
        }
        Err(format!(
            "invalid expected {} {hex:?}: need {want} hex digits",
            self.algo.name()
        ))
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
        assert_eq!(
            HashAlgo::Sha1.of_bytes(b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert!(HashAlgo::Sha512
            .of_bytes(b"abc")
            .starts_with("ddaf35a193617abacc417349ae204131"));
    }

    #[test]
    fn names_and_expected_digests() {
        for algo in HashAlgo::ALL {
            assert_eq!(HashAlgo::parse(algo.name()), Some(algo));
            assert_eq!(algo.of_bytes(b"").len(), algo.hex_len());
        }
        assert_eq!(HashAlgo::parse("SHA-256"), Some(HashAlgo::Sha256));
        assert_eq!(HashAlgo::parse("crc32"), None);
        let md5 = |hex: &str| Checksum {
            algo: HashAlgo::Md5,
            hex: hex.into(),
        };
        let upper = md5(" 900150983CD24FB0D6963F7D28E17F72 ");
        assert_eq!(
            upper.normalized().unwrap().hex,
            "900150983cd24fb0d6963f7d28e17f72"
        );
        let short = md5("9001").normalized().unwrap_err();
        assert!(short.contains("need 32 hex digits"), "{short}");
    }
}
