//! Drives a [`Stage`] through one run, the same way inside the sandbox and in native tests:
//! config parsing, port checks, and grouping of what the stage emits by output port.

use arrow_array::RecordBatch;

use crate::{Emitter, Error, Metric, Ports, Result, Stage, parse_config};

/// The batches emitted on one output port during one call, in emission order.
#[derive(Debug)]
pub(crate) struct PortBatches {
    pub port: String,
    pub batches: Vec<RecordBatch>,
}

/// One opened stage.
pub(crate) struct Driver<S> {
    stage: S,
    ports: Ports,
    emitter: Emitter,
}

impl<S: Stage> Driver<S> {
    /// Parses `config` (JSON) and opens the stage.
    pub fn open(config: &str) -> Result<Self> {
        let stage = S::open(parse_config(config)?)?;
        Ok(Driver { ports: stage.ports(), stage, emitter: Emitter::default() })
    }

    /// The ports of the opened stage.
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Feeds the batches that arrived on `port` to the stage.
    pub fn push(&mut self, port: &str, batches: Vec<RecordBatch>) -> Result<Vec<PortBatches>> {
        if !self.ports.has_input(port) {
            let declared: Vec<&str> = self.ports.inputs.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::input(format!("no input port `{port}` (declared: {})", declared.join(", "))));
        }
        for batch in batches {
            self.stage.push(port, batch, &mut self.emitter)?;
        }
        self.collect()
    }

    /// Lets the stage emit what it kept.
    pub fn finish(&mut self) -> Result<Vec<PortBatches>> {
        self.stage.finish(&mut self.emitter)?;
        self.collect()
    }

    pub fn metrics(&self) -> Vec<Metric> {
        self.stage.metrics()
    }

    fn collect(&mut self) -> Result<Vec<PortBatches>> {
        let mut grouped: Vec<PortBatches> = Vec::new();
        for (port, batch) in self.emitter.take() {
            if let Some(group) = grouped.iter_mut().find(|g| g.port == port) {
                group.batches.push(batch);
                continue;
            }
            if !self.ports.has_output(&port) {
                let declared: Vec<&str> = self.ports.outputs.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::failed(format!(
                    "stage emitted on undeclared output port `{port}` (declared: {})",
                    declared.join(", ")
                )));
            }
            grouped.push(PortBatches { port, batches: vec![batch] });
        }
        Ok(grouped)
    }
}
