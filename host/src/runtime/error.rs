//! Errors of the runtime, by phase: loading a plugin, and running a stage on it.

use std::path::PathBuf;
use std::time::Duration;

use super::ContractVersion;
use crate::untrusted::PluginText;

/// A plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("plugin {path}: not a valid WebAssembly component: {message}")]
    Compile { path: PathBuf, message: String },
    #[error(
        "plugin {path} does not export `etl:stage/stage` (exports: {exports}); \
         is it a stage plugin built with etl-sdk?"
    )]
    NotAStage { path: PathBuf, exports: String },
    #[error(
        "plugin {path} was built for contract etl:stage@{plugin}, but this host speaks \
         etl:stage@{host}; rebuild the plugin against a matching etl-sdk"
    )]
    Contract { path: PathBuf, plugin: ContractVersion, host: ContractVersion },
    #[error("plugin {path}: {message}")]
    BadContract { path: PathBuf, message: String },
    #[error("plugin {path} needs imports the sandbox does not provide: {message}")]
    Imports { path: PathBuf, message: String },
    #[error("plugin {path}: {}", source.kind)]
    Describe { path: PathBuf, source: Box<StageError> },
    #[error("plugin {path}: `describe` returned what the host refuses: {}", problems.join("; "))]
    BadInfo { path: PathBuf, problems: Vec<String> },
    #[error("compile cache {path}: {source}")]
    Cache { path: PathBuf, source: std::io::Error },
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
}

/// A stage failed while running on its plugin. Names the stage, the plugin and what happened.
#[derive(Debug, thiserror::Error)]
#[error("stage \"{stage}\" (plugin {plugin}): {kind}")]
pub struct StageError {
    pub stage: String,
    pub plugin: String,
    pub kind: StageErrorKind,
}

/// What went wrong in a stage. The first group are the sandbox's limits; then the plugin's own
/// errors; then output the host refused. Every text that comes from the plugin is a
/// [`PluginText`]: cut and escaped where the plugin handed it over.
#[derive(Debug, thiserror::Error)]
pub enum StageErrorKind {
    #[error("`{call}` exceeded the call time limit of {}", humanize_duration(*limit))]
    Timeout { call: &'static str, limit: Duration },
    #[error("`{call}` exceeded the memory limit of {} (it asked for {})", humanize_bytes(*limit), requested_bytes(*requested))]
    Memory {
        call: &'static str,
        limit: u64,
        /// The size a refused growth asked for; `None` when it asked for more than the 4 GiB a
        /// wasm32 plugin can address.
        requested: Option<u64>,
    },
    #[error(
        "`{call}` could not grow its memory to {}: the run's memory budget for all sandboxes is {} \
         and {} of it is in use",
        humanize_bytes(*requested), humanize_bytes(*budget), humanize_bytes(*in_use)
    )]
    MemoryBudget { call: &'static str, budget: u64, requested: u64, in_use: u64 },
    #[error("`{call}` returned more than the output limit of {}", humanize_bytes(*limit))]
    OutputBytes { call: &'static str, limit: u64 },
    #[error("`{call}` returned {rows} rows, more than the output limit of {limit} rows per call")]
    OutputRows { call: &'static str, rows: u64, limit: u64 },
    #[error("`{call}` took the stage's output past its total output limit of {}", humanize_bytes(*limit))]
    TotalOutputBytes { call: &'static str, limit: u64 },
    #[error("plugin panicked in `{call}`: {message}")]
    Panic { call: &'static str, message: PluginText },
    #[error("plugin trapped in `{call}`: {message}")]
    Trap { call: &'static str, message: PluginText },
    #[error("invalid config: {0}")]
    InvalidConfig(PluginText),
    #[error("invalid input: {0}")]
    InvalidInput(PluginText),
    #[error("{0}")]
    Failed(PluginText),
    #[error("`{call}` returned a batch on port `{port}`, which the plugin does not declare (outputs: {declared})")]
    UndeclaredPort { call: &'static str, port: PluginText, declared: String },
    #[error("`{call}` returned ports the host refuses: {problems}")]
    BadPorts { call: &'static str, problems: String },
    #[error("`{call}` returned columns on port `{port}` the host refuses: {problem}")]
    BadColumns { call: &'static str, port: String, problem: String },
    #[error("`{call}` returned malformed Arrow IPC on port `{port}`: {message}")]
    BadIpc { call: &'static str, port: String, message: PluginText },
    #[error("`{call}` changed the schema of port `{port}` from {before} to {after}")]
    SchemaChanged { call: &'static str, port: String, before: PluginText, after: PluginText },
    #[error("the host could not encode the input for port `{port}`: {message}")]
    Encode { port: String, message: String },
    #[error("no input port `{port}` (inputs: {declared})")]
    UnknownInput { port: String, declared: String },
    #[error("the instance failed earlier and cannot be used again")]
    Poisoned,
}

impl StageErrorKind {
    /// A short, fixed label for metrics: `timeout`, `memory`, `trap`, `plugin`, `output`, ...
    pub fn label(&self) -> &'static str {
        use StageErrorKind::*;
        match self {
            Timeout { .. } => "timeout",
            Memory { .. } | MemoryBudget { .. } => "memory",
            OutputBytes { .. } | OutputRows { .. } | TotalOutputBytes { .. } => "output_limit",
            Panic { .. } => "panic",
            Trap { .. } => "trap",
            InvalidConfig(_) => "invalid_config",
            InvalidInput(_) | UnknownInput { .. } | Encode { .. } => "invalid_input",
            Failed(_) => "failed",
            UndeclaredPort { .. } | BadPorts { .. } | BadColumns { .. } | BadIpc { .. } | SchemaChanged { .. } => {
                "bad_output"
            }
            Poisoned => "poisoned",
        }
    }

    /// Whether a sandbox limit ended the call (time, memory or output), rather than the plugin's
    /// own error or a broken contract.
    pub fn is_limit(&self) -> bool {
        matches!(self.label(), "timeout" | "memory" | "output_limit")
    }
}

fn requested_bytes(requested: Option<u64>) -> String {
    match requested {
        Some(bytes) => humanize_bytes(bytes),
        None => "more than the 4 GiB a wasm32 plugin can address".into(),
    }
}

pub(crate) fn humanize_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 && value.fract() == 0.0 {
        if (value / 1024.0).fract() != 0.0 {
            break;
        }
        value /= 1024.0;
        unit += 1;
    }
    format!("{value} {}", UNITS[unit])
}

pub(crate) fn humanize_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizes_limits() {
        assert_eq!(humanize_bytes(64 << 20), "64 MiB");
        assert_eq!(humanize_bytes(1 << 30), "1 GiB");
        assert_eq!(humanize_bytes(1500), "1500 bytes");
        assert_eq!(humanize_duration(Duration::from_secs(60)), "60s");
        assert_eq!(humanize_duration(Duration::from_millis(250)), "250ms");
    }
}
