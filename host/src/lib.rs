//! The pipeline host as a library: everything `main.rs` dispatches to, and what the end-to-end
//! tests and benchmarks drive directly.

pub mod alerts;
pub mod config;
pub mod dag;
pub mod export;
pub mod ingest;
pub mod monitor;
pub mod run;
pub mod runtime;
pub mod schedule;
pub mod sinks;
pub mod state;
pub mod types;
pub mod untrusted;
mod writeback;
