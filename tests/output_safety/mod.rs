//! Output safety: hostile and truncated input, hard stops, names that try
//! to escape, and the edges of a run that must still tell the truth.

mod edges;
mod hostile;
mod robustness;
mod truncated;
