//! What the benchmarks share: their command line, medians and units. Included by each bench as
//! `mod support;` (a directory, so cargo does not take it for a bench target of its own).

use std::time::Duration;

/// The arguments after `cargo bench ... --` (cargo adds `--bench`, which is ignored).
#[derive(Debug)]
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Self {
        Args(std::env::args().skip(1).collect())
    }

    /// The number after `name`, or `default` when `name` is absent.
    pub fn number(&self, name: &str, default: usize) -> usize {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number, got {v}")))
    }

    /// Whether the flag `name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

/// The median of `repeats` (at least one) runs of `f`.
pub fn median(repeats: usize, mut f: impl FnMut() -> Duration) -> Duration {
    median_of((0..repeats.max(1)).map(|_| f()).collect())
}

/// The median of `samples` (the upper one of an even count); zero for none.
pub fn median_of(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}
