//! The monitor: a read-only web dashboard and Prometheus `/metrics` over a run store
//! (`host serve`).
//!
//! ```text
//! /                    runs page: table, success rate, duration trend      /api/runs?limit=N
//! /runs/<run_id>       run page: Gantt chart, stages, checks, quarantine   /api/runs/<run_id>
//! /pipeline            the stage graph (with --pipeline)                   /api/pipeline
//! /metrics             Prometheus text exposition, built at scrape time
//! /assets/app.css|js   embedded in the binary; nothing is fetched from the network
//! ```
//!
//! Every request opens the store read-only ([`RunStore::open_read_only`]) and reads what it
//! shows, so the dashboard follows runs as they are written and never writes. Everything a
//! plugin produced (stage errors, rejected lines, metric names) is untrusted: pages escape it
//! ([`html::escape`]) and the script sets text with `textContent` only.

mod api;
mod graph;
pub mod html;
mod metrics;
mod quarantine;
mod server;
mod svg;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use api::{LOG_TAIL_LINES, RunPage, RunRow, RunsPage, StageView, Window};
pub use graph::{Edge, Node, NodeKind, PipelineGraph};
pub use metrics::{QUARANTINE_RUNS, RUNS};
pub use quarantine::{QuarantineCount, QuarantineSummary, RejectedRow, SAMPLE_ROWS};
pub use server::{Reply, Server};

use crate::config;
use crate::state::{RunStore, StateError};

/// What a monitor can fail at.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Config(#[from] config::LoadError),
    #[error("cannot listen on {addr}: {message}")]
    Bind { addr: String, message: String },
    #[error("cannot read the quarantine {path}: {message}")]
    Quarantine { path: PathBuf, message: String },
    #[error("cannot encode the metrics: {0}")]
    Metrics(std::fmt::Error),
}

/// The pipeline a monitor was started for: its name, where its quarantine is, its graph.
#[derive(Debug, Clone)]
pub struct PipelineContext {
    pub name: String,
    pub quarantine: PathBuf,
    pub graph: PipelineGraph,
}

/// The data behind every page: a state directory and, with `--pipeline`, the pipeline.
#[derive(Debug, Clone)]
pub struct Monitor {
    state_dir: PathBuf,
    pipeline: Option<PipelineContext>,
}

impl Monitor {
    /// Runs of the store in `state_dir`; no quarantine, no graph.
    pub fn for_state_dir(state_dir: &Path) -> Self {
        Monitor { state_dir: state_dir.to_path_buf(), pipeline: None }
    }

    /// Runs of the pipeline file `file` in environment `env` (default `development`): its
    /// `paths.state`, its quarantine and its stage graph. Plugins are not loaded.
    pub fn for_pipeline(file: &Path, env: Option<&str>) -> Result<Self, MonitorError> {
        let source = config::Source {
            path: file,
            env: env.unwrap_or("development"),
            env_required: env.is_some(),
            set: &[],
            unset: &[],
        };
        let loaded = config::load(&source)?;
        let paths = &loaded.file.paths;
        Ok(Monitor {
            state_dir: paths.state.clone(),
            pipeline: Some(PipelineContext {
                name: loaded.file.pipeline.clone(),
                quarantine: paths.quarantine.clone(),
                graph: PipelineGraph::of(&loaded.file),
            }),
        })
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn pipeline(&self) -> Option<&PipelineContext> {
        self.pipeline.as_ref()
    }

    /// The store, or `None` while it doesn't exist (no run yet).
    fn store(&self) -> Result<Option<RunStore>, MonitorError> {
        match RunStore::open_read_only(&self.state_dir) {
            Ok(store) => Ok(Some(store)),
            Err(StateError::Missing { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}
