//! The data formats a pipeline host and its stage plugins share, so that both sides of the
//! sandbox agree on them byte for byte: the Arrow IPC framing of the `etl:stage` contract
//! ([`ipc`]), calendar dates as Arrow's `Date32` counts them ([`dates`]) and decimals written as
//! text ([`decimal`]).
//!
//! Plugin authors do not depend on this crate: `etl-sdk` re-exports what they use of it
//! ([`dates`], [`decimal::DecimalText`]). The host uses the rest: decoding what a plugin returns
//! without trusting it, reading IPC message headers before decoding them, describing schemas in
//! error messages.

pub mod dates;
pub mod decimal;
pub mod ipc;
