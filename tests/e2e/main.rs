//! End-to-end tests: the real `host` binary and the runtime library against real `.wasm` plugins
//! built by `just build-plugins`.

mod airflow;
mod common;
mod crash;
mod examples;
mod generate;
mod golden;
mod hostile;
mod inspect;
mod interop;
mod operations;
mod pipeline;
mod plugin_new;
mod rerun;
mod sandbox;
mod schedule;
mod serve;
mod streaming;
mod tasks;
