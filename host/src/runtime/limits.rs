//! The limits every stage instance runs under, the run's memory budget shared by all its
//! sandboxes, and the memory limiter that enforces both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// The most bytes all of one instance's calls together may hand back (default 16 GiB): a
    /// stage that writes without end fails instead of filling the disk with its artifacts.
    pub total_output_bytes: u64,
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
            total_output_bytes: 16 << 30,
            output_rows: 16 << 20,
            log_records: 10_000,
        }
    }
}

/// The most linear memory a wasm32 plugin can address.
pub const WASM32_MEMORY: u64 = 4 << 30;

impl Limits {
    /// Every problem with these limits, each naming its key (`limits.memory_bytes: ...`).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.memory_bytes > WASM32_MEMORY {
            problems.push(format!(
                "limits.memory_bytes: {} is more than the 4 GiB ({WASM32_MEMORY}) a wasm32 plugin can address",
                self.memory_bytes
            ));
        }
        if self.memory_bytes < MIN_MEMORY {
            problems.push(format!(
                "limits.memory_bytes: {} is less than the 1 MiB ({MIN_MEMORY}) a plugin needs to start",
                self.memory_bytes
            ));
        }
        for (key, value) in [
            ("call_timeout_ms", self.call_timeout.as_millis() as u64),
            ("output_bytes", self.output_bytes),
            ("total_output_bytes", self.total_output_bytes),
            ("output_rows", self.output_rows),
        ] {
            if value == 0 {
                problems.push(format!("limits.{key}: must be more than 0"));
            }
        }
        if self.output_bytes > self.total_output_bytes {
            problems.push(format!(
                "limits.output_bytes: {} is more than limits.total_output_bytes ({})",
                self.output_bytes, self.total_output_bytes
            ));
        }
        problems
    }

    /// The tighter of two limits, field by field.
    pub fn tightest(&self, other: &Limits) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.min(other.memory_bytes),
            call_timeout: self.call_timeout.min(other.call_timeout),
            output_bytes: self.output_bytes.min(other.output_bytes),
            total_output_bytes: self.total_output_bytes.min(other.total_output_bytes),
            output_rows: self.output_rows.min(other.output_rows),
            log_records: self.log_records.min(other.log_records),
        }
    }
}

/// The least `memory_bytes` a pipeline may set: a plugin's start needs a few pages.
const MIN_MEMORY: u64 = 1 << 20;

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// The linear memory all sandboxes of the process may hold at once: each instance's growth is
/// taken from it and given back when the instance is dropped. One per [`Runtime`](super::Runtime)
/// (a process runs one run at a time); `host run` sets it from the pipeline's
/// `sandbox.memory_budget_bytes`.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: AtomicU64,
    used: AtomicU64,
}

impl MemoryBudget {
    pub(crate) fn new(limit: u64) -> Self {
        MemoryBudget { limit: AtomicU64::new(limit), used: AtomicU64::new(0) }
    }

    /// Half of the machine's physical memory (8 GiB where it can't be read).
    pub fn default_limit() -> u64 {
        // SAFETY: `sysconf` has no preconditions; it returns -1 for what it doesn't know.
        let (pages, page_size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
        match (u64::try_from(pages), u64::try_from(page_size)) {
            (Ok(pages), Ok(size)) if pages > 0 && size > 0 => pages.saturating_mul(size) / 2,
            _ => 8 << 30,
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    pub fn set_limit(&self, bytes: u64) {
        self.limit.store(bytes, Ordering::Relaxed);
    }

    /// Bytes of linear memory the live instances hold now.
    pub fn in_use(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the budget, or says how much is in use if they don't fit.
    fn reserve(&self, bytes: u64) -> Result<(), u64> {
        let limit = self.limit();
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            })
            .map(drop)
    }

    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Why the last memory growth was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Past the instance's limit; `None`: past what wasm32 can address at all.
    Limit(Option<u64>),
    /// Within the instance's limit, but the run's budget had no room left.
    Budget { requested: u64, in_use: u64 },
}

/// Caps linear memory growth by the instance's limit and the run's budget, and remembers that it
/// did, so a trap that follows (Rust aborts when an allocation fails) is reported as the memory
/// limit rather than as `unreachable`. Gives its memory back to the budget when dropped.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    limit: u64,
    budget: Arc<MemoryBudget>,
    /// Bytes taken from the budget (all of the instance's memories).
    reserved: u64,
    /// Why the last refused growth was refused.
    pub refused: Option<Refusal>,
    /// The largest size granted: linear memory never shrinks, so this is the instance's peak.
    pub granted: u64,
}

impl MemoryCap {
    pub fn new(limit: u64, budget: Arc<MemoryBudget>) -> Self {
        MemoryCap { limit, budget, reserved: 0, refused: None, granted: 0 }
    }

    /// The budget's limit, for messages.
    pub fn budget_limit(&self) -> u64 {
        self.budget.limit()
    }
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        self.budget.release(self.reserved);
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.limit {
            self.refused = Some(Refusal::Limit(Some(desired)));
            return Ok(false);
        }
        let growth = desired.saturating_sub(current as u64);
        if let Err(in_use) = self.budget.reserve(growth) {
            self.refused = Some(Refusal::Budget { requested: desired, in_use });
            return Ok(false);
        }
        self.reserved += growth;
        self.granted = self.granted.max(desired);
        Ok(true)
    }

    /// Growth past what the memory's type allows (4 GiB for wasm32) never reaches
    /// `memory_growing`: it fails here.
    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        if self.refused.is_none() {
            self.refused = Some(Refusal::Limit(None));
        }
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_past_what_a_sandbox_can_do_are_problems() {
        assert!(Limits::default().problems().is_empty());
        let limits = Limits { memory_bytes: 5 << 30, output_rows: 0, ..Limits::default() };
        assert_eq!(
            limits.problems(),
            [
                "limits.memory_bytes: 5368709120 is more than the 4 GiB (4294967296) a wasm32 plugin can address",
                "limits.output_rows: must be more than 0",
            ]
        );
        let limits = Limits { memory_bytes: 4096, total_output_bytes: 1 << 20, ..Limits::default() };
        assert_eq!(
            limits.problems(),
            [
                "limits.memory_bytes: 4096 is less than the 1 MiB (1048576) a plugin needs to start",
                "limits.output_bytes: 536870912 is more than limits.total_output_bytes (1048576)",
            ]
        );
    }

    #[test]
    fn the_budget_is_shared_and_given_back() {
        use wasmtime::ResourceLimiter;
        let budget = Arc::new(MemoryBudget::new(10 << 20));
        let mut a = MemoryCap::new(8 << 20, Arc::clone(&budget));
        let mut b = MemoryCap::new(8 << 20, Arc::clone(&budget));
        assert!(a.memory_growing(0, 6 << 20, None).unwrap());
        assert!(!b.memory_growing(0, 6 << 20, None).unwrap());
        assert_eq!(b.refused, Some(Refusal::Budget { requested: 6 << 20, in_use: 6 << 20 }));
        assert!(b.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(budget.in_use(), 10 << 20);
        // Past the instance's own limit is the limit, whatever the budget.
        assert!(!a.memory_growing(6 << 20, 9 << 20, None).unwrap());
        assert_eq!(a.refused, Some(Refusal::Limit(Some(9 << 20))));
        drop(a);
        assert_eq!(budget.in_use(), 4 << 20);
        assert!(b.memory_growing(4 << 20, 8 << 20, None).unwrap());
        drop(b);
        assert_eq!(budget.in_use(), 0);
    }
}
