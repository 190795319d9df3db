//! The sandboxed plugin runtime: one wasmtime [`Engine`](wasmtime::Engine) for the process,
//! components compiled once and cached on disk, and a short-lived, capability-free store per
//! stage run with memory, time and output limits.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use host::runtime::{Limits, Runtime};
//!
//! let runtime = Runtime::new(Default::default())?;
//! let limits = Limits::default();
//! // `describe` runs under the limits given; what it names is checked.
//! let plugin = runtime.load("target/wasm32-wasip2/plugin/identity.wasm".as_ref(), &limits)?;
//! let mut stage = plugin.open("passthrough", "{}", &limits)?;
//! # let batch: arrow_array::RecordBatch = todo!();
//! let outputs = stage.push("in", &batch)?;
//! let tail = stage.finish()?;
//! # Ok(()) }
//! ```

mod bindings;
mod cache;
mod contract;
mod engine;
mod error;
mod instance;
mod limits;
mod plugin;

pub use contract::{CONTRACT_PACKAGE, CONTRACT_VERSION, ContractVersion};
pub use engine::{Runtime, RuntimeOptions};
pub(crate) use error::humanize_duration;
pub use error::{LoadError, StageError, StageErrorKind};
#[cfg(feature = "native-stages")]
pub(crate) use instance::keep_metrics;
pub use instance::{InstanceStats, MAX_METRICS, Output, RunInfo, StageInstance};
pub use limits::{Limits, MemoryBudget, WASM32_MEMORY};
pub use plugin::{CompileSource, MAX_PORTS, Plugin, PluginInfo, PortInfo, PortSet};

/// Writes one of a plugin's log records to the host's log, tagged with its stage and plugin
/// (sandboxed, or run natively with `--native-stages`).
/// The message is cut to [`PluginText::MESSAGE`](crate::untrusted::PluginText::MESSAGE) bytes
/// and escaped: a plugin cannot write a line of its own into the log.
pub(crate) fn log_plugin_message(level: tracing::Level, stage: &str, plugin: &str, message: &str) {
    use tracing::Level;
    let message = crate::untrusted::PluginText::message(message);
    match level {
        Level::TRACE => tracing::trace!(stage, plugin, "{message}"),
        Level::DEBUG => tracing::debug!(stage, plugin, "{message}"),
        Level::INFO => tracing::info!(stage, plugin, "{message}"),
        Level::WARN => tracing::warn!(stage, plugin, "{message}"),
        Level::ERROR => tracing::error!(stage, plugin, "{message}"),
    }
}
