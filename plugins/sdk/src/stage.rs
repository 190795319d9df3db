//! The [`Stage`] trait a plugin implements, and what it says about itself.

use arrow_array::RecordBatch;
use serde::de::DeserializeOwned;

use crate::Result;

/// A pipeline stage: opened once per run with its config, fed every input batch, then finished.
///
/// The host delivers inputs port by port in the order [`Stage::info`] lists them: every batch of
/// the first input port, then every batch of the second, and so on. A stateless stage emits as it
/// goes; a stateful one (an aggregate, a join's build side) keeps what it needs and emits in
/// [`Stage::finish`]. Memory is capped by the host, so keep state proportional to what the
/// stage must remember, not to its input.
pub trait Stage: Sized {
    /// The stage's `config:` block: a type declared with [`crate::config!`] (which refuses unknown
    /// keys, so typos are caught), or [`crate::NoConfig`].
    type Config: DeserializeOwned;

    /// Name, version, ports and config help. Must not depend on any config.
    fn info() -> Info;

    /// Checks the config and builds the stage; refuse a bad config with [`crate::Error::config`].
    fn open(config: Self::Config) -> Result<Self>;

    /// Handles one input batch that arrived on `port`.
    fn push(&mut self, port: &str, batch: RecordBatch, out: &mut Emitter) -> Result<()>;

    /// Called once after the last input batch.
    fn finish(&mut self, out: &mut Emitter) -> Result<()> {
        let _ = out;
        Ok(())
    }

    /// The ports of this instance. The default is the ports of [`Stage::info`]; override it when
    /// the config adds or renames ports (one lookup port per configured join, say). Inputs are
    /// delivered in the order listed here.
    fn ports(&self) -> Ports {
        let info = Self::info();
        Ports { inputs: info.inputs, outputs: info.outputs }
    }

    /// Counters the host records with the run, read after [`Stage::finish`].
    fn metrics(&self) -> Vec<Metric> {
        Vec::new()
    }
}

/// A named input or output of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub description: String,
}

/// What a plugin says about itself; see the builder methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub version: String,
    pub description: String,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    pub config_help: String,
}

impl Info {
    /// A stage with no ports yet; add them with [`Info::input`] and [`Info::output`].
    pub fn new(name: impl Into<String>, version: impl Into<String>, description: impl Into<String>) -> Self {
        Info {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            config_help: String::new(),
        }
    }

    /// Adds an input port; inputs are delivered in the order they are added.
    pub fn input(mut self, name: impl Into<String>, description: impl Into<String>) -> Self {
        self.inputs.push(Port { name: name.into(), description: description.into() });
        self
    }

    /// Adds an output port.
    pub fn output(mut self, name: impl Into<String>, description: impl Into<String>) -> Self {
        self.outputs.push(Port { name: name.into(), description: description.into() });
        self
    }

    /// Sets the help text for the `config:` block (shown by `host plugin inspect`).
    pub fn config_help(mut self, help: impl Into<String>) -> Self {
        self.config_help = help.into();
        self
    }
}

/// The input and output ports of one opened stage instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ports {
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
}

impl Ports {
    pub fn has_input(&self, port: &str) -> bool {
        self.inputs.iter().any(|p| p.name == port)
    }

    pub fn has_output(&self, port: &str) -> bool {
        self.outputs.iter().any(|p| p.name == port)
    }
}

impl Port {
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Port { name: name.into(), description: description.into() }
    }
}

/// A named counter, e.g. `rule_failures.not_null(order_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub name: String,
    pub value: i64,
}

impl Metric {
    pub fn new(name: impl Into<String>, value: i64) -> Self {
        Metric { name: name.into(), value }
    }
}

/// Collects the batches a stage emits during one call, in order.
#[derive(Debug, Default)]
pub struct Emitter {
    batches: Vec<(String, RecordBatch)>,
}

impl Emitter {
    /// Emits `batch` on the output port `port`, which must be declared in [`Stage::info`].
    pub fn emit(&mut self, port: &str, batch: RecordBatch) {
        self.batches.push((port.to_owned(), batch));
    }

    pub(crate) fn take(&mut self) -> Vec<(String, RecordBatch)> {
        std::mem::take(&mut self.batches)
    }
}
