//! The engine of pixmill's deterministic mutation fuzzer: a seeded RNG,
//! byte mutations that break size arithmetic, and where findings are kept.
//! Each iteration derives its own RNG from (seed, iteration), so a finding
//! is reproduced by `PIXMILL_FUZZ_SEED` and the iteration printed.

use std::fs;
use std::path::PathBuf;

/// Iterations per image test unless `PIXMILL_FUZZ_ITERS` says otherwise.
pub const DEFAULT_ITERS: u64 = 2000;

/// `PIXMILL_FUZZ_ITERS`, else `default`.
pub fn iterations(default: u64) -> u64 {
    std::env::var("PIXMILL_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `PIXMILL_FUZZ_SEED`, else a fixed seed, so a failure reproduces.
pub fn base_seed() -> u64 {
    std::env::var("PIXMILL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_0FC0_FFEE)
}

/// xorshift64*: small, fast, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    /// The generator for one iteration of a run seeded with `seed`.
    pub fn new(seed: u64, iteration: u64) -> Rng {
        // splitmix64 of the pair, so neighbouring iterations differ fully.
        let mut z = seed ^ iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True about once in `one_in` calls.
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Values that tend to break size arithmetic and bounds checks.
const INTERESTING_U32: [u32; 12] = [
    0,
    1,
    2,
    0x7F,
    0x80,
    0xFF,
    0xFFFF,
    40_000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    16_384,
];

/// Applies one to four mutations to `data`, using `others` for splicing.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, others: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            data.push(rng.next_u64() as u8);
        }
        let len = data.len();
        match rng.below(9) {
            // Flip a few bits anywhere.
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(len);
                    data[at] ^= 1 << rng.below(8);
                }
            }
            // Set bytes to boundary values.
            1 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(len);
                    data[at] = [0, 1, 0x7F, 0x80, 0xFF][rng.below(5)];
                }
            }
            // Truncate.
            2 => data.truncate(rng.below(len)),
            // Splice: this one's head onto another's tail.
            3 => {
                let other = &others[rng.below(others.len())];
                if !other.is_empty() {
                    let head = rng.below(len);
                    let tail = rng.below(other.len());
                    data.truncate(head);
                    data.extend_from_slice(&other[tail..]);
                }
            }
            // Repeat a chunk of itself (duplicated chunks, segments, frames).
            4 => {
                let from = rng.below(len);
                let n = 1 + rng.below((len - from).min(512));
                let chunk = data[from..from + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            // Delete a range.
            5 => {
                let from = rng.below(len);
                let n = 1 + rng.below((len - from).min(256));
                data.drain(from..from + n);
            }
            // Patch a header field (sizes, lengths, offsets live early).
            6 | 7 => {
                let at = rng.below(len.min(96));
                let value = if rng.chance(2) {
                    INTERESTING_U32[rng.below(INTERESTING_U32.len())]
                } else {
                    rng.next_u64() as u32
                };
                let bytes = match rng.below(4) {
                    0 => value.to_be_bytes().to_vec(),
                    1 => value.to_le_bytes().to_vec(),
                    2 => (value as u16).to_be_bytes().to_vec(),
                    _ => (value as u16).to_le_bytes().to_vec(),
                };
                for (i, b) in bytes.into_iter().enumerate() {
                    if at + i < data.len() {
                        data[at + i] = b;
                    }
                }
            }
            // Random garbage in the middle.
            _ => {
                let at = rng.below(len);
                let n = 1 + rng.below(64);
                for byte in &mut data[at..(at + n).min(len)] {
                    *byte = rng.next_u64() as u8;
                }
            }
        }
    }
}

/// Recomputes the CRC of every PNG chunk that lies within `data`, so that
/// mutations get past the CRC check into zlib, filters and colour handling.
pub fn fix_png_crcs(data: &mut [u8]) {
    if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return;
    }
    let mut at = 8;
    while at + 12 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e + 4 <= data.len()) else {
            return;
        };
        let crc = crate::crc32(&data[at + 4..end]);
        data[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

/// Where crashing and hanging inputs are written.
pub fn crash_dir() -> PathBuf {
    // target/<profile>/deps/<test binary>
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("fuzz-crashes");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Keeps an input that broke a test under `target/fuzz-crashes/NAME` and returns its path.
pub fn save(name: &str, data: &[u8]) -> PathBuf {
    let path = crash_dir().join(name);
    fs::write(&path, data).unwrap();
    path
}
