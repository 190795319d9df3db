//! End-to-end tests: the real `host` binary and the runtime library against real `.wasm` plugins
//! built by `just build-plugins`.

mod common;
mod generate;
mod inspect;
mod pipeline;
mod sandbox;
