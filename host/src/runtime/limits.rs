//! The limits every stage instance runs under, and the memory limiter that enforces the first.

use std::time::Duration;

use serde::Deserialize;

/// What one stage instance may use. Every field has a safe default; a pipeline file can lower or
/// raise them per stage.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The most linear memory the instance may grow to, in bytes (default 1 GiB; wasm32 can
    /// address 4 GiB).
    pub memory_bytes: u64,
    /// Wall-clock time one call (`open`, `push`, `finish`, ...) may take (default 60 s).
    #[serde(with = "duration_ms", rename = "call_timeout_ms")]
    pub call_timeout: Duration,
    /// The most bytes one call may hand back to the host (default 512 MiB).
    pub output_bytes: u64,
    /// The most rows one call may emit, over all ports (default 16 Mi rows).
    pub output_rows: u64,
    /// The most log records the instance may write; later ones are dropped (default 10,000).
    pub log_records: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 1 << 30,
            call_timeout: Duration::from_secs(60),
            output_bytes: 512 << 20,
            output_rows: 16 << 20,
            log_records: 10_000,
        }
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Caps linear memory growth and remembers that it did, so a trap that follows (Rust aborts when
/// an allocation fails) is reported as the memory limit rather than as `unreachable`.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    limit: u64,
    /// The size a refused `memory.grow` asked for.
    pub refused: Option<u64>,
    /// The largest size granted: linear memory never shrinks, so this is the instance's peak.
    pub granted: u64,
}

impl MemoryCap {
    pub fn new(limit: u64) -> Self {
        MemoryCap { limit, refused: None, granted: 0 }
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.limit {
            self.refused = Some(desired);
            return Ok(false);
        }
        self.granted = self.granted.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}
