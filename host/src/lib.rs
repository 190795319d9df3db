//! The pipeline host as a library: everything `main.rs` dispatches to, and what the end-to-end
//! tests and benchmarks drive directly.

pub mod ingest;
pub mod runtime;
pub mod sample;
