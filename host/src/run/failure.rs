//! Why a stage did not succeed: one type, [`StageFailure`], from the stage through the scheduler
//! (retries, interruptions) to the run's outcome, the run store (its [`kind`](StageFailure::kind)
//! is a column) and the console.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::artifacts::ArtifactError;
use crate::ingest::IngestError;
use crate::runtime::{StageError, humanize_duration};
use crate::sinks::SinkError;

/// Why a stage attempt failed, or why a stage never ran. Its message names the stage's plugin
/// and the limit where there is one; [`kind`](Self::kind) is a short fixed label to count
/// failures by.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StageFailure {
    /// The plugin failed, or the sandbox stopped it (a limit, a trap, output it refused):
    /// `stage "x" (plugin y.wasm): ...`.
    #[error(transparent)]
    Plugin(Arc<StageError>),
    /// The stage ran past its own time limit (`timeout_s`), waiting for upstreams not counted.
    #[error("timeout: stage exceeded its time limit of {}", humanize_duration(*limit))]
    Timeout { limit: Duration },
    /// Its CSV input could not be read.
    #[error(transparent)]
    Ingest(Arc<IngestError>),
    /// The warehouse, a report or the quarantine could not be written.
    #[error(transparent)]
    Sink(Arc<SinkError>),
    /// The run's artifacts (the stages' outputs) could not be read or written.
    #[error(transparent)]
    Artifact(Arc<ArtifactError>),
    /// The stage's artifact folder could not be emptied for a new attempt.
    #[error("cannot prepare the artifact folder {}: {source}", path.display())]
    Io { path: PathBuf, source: Arc<std::io::Error> },
    /// `--native-stages` cannot run the stage natively (no such build, or no native crate).
    #[error("{0}")]
    Native(String),
    /// The run was cancelled (a second SIGTERM or SIGINT to `host schedule`) while the stage ran.
    #[error("cancelled: the run was stopped while this stage ran")]
    Cancelled,
    /// Not run: a stage it needs failed.
    #[error("not run: upstream stage \"{upstream}\" failed")]
    UpstreamFailed { upstream: String },
    /// The host broke one of its own rules.
    #[error("{0}; this is a bug")]
    Internal(String),
}

impl StageFailure {
    /// A short, fixed label for the run store and metrics: a plugin failure's own
    /// ([`StageErrorKind::label`](crate::runtime::StageErrorKind::label): `memory`, `timeout`,
    /// `output_limit`, `trap`, `panic`, `invalid_config`, `invalid_input`, `failed`,
    /// `bad_output`, ...), else `timeout`, `input`, `sink`, `io`, `upstream_failed`, `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            StageFailure::Plugin(error) => error.kind.label(),
            StageFailure::Timeout { .. } => "timeout",
            StageFailure::Ingest(_) => "input",
            StageFailure::Sink(_) => "sink",
            StageFailure::Artifact(_) | StageFailure::Io { .. } => "io",
            StageFailure::Native(_) => "native",
            StageFailure::Cancelled => "cancelled",
            StageFailure::UpstreamFailed { .. } => "upstream_failed",
            StageFailure::Internal(_) => "internal",
        }
    }

    /// Whether a limit ended the stage: a sandbox limit (memory, call time, output) or the
    /// stage's own time limit.
    pub fn is_limit(&self) -> bool {
        match self {
            StageFailure::Plugin(error) => error.kind.is_limit(),
            StageFailure::Timeout { .. } => true,
            _ => false,
        }
    }
}

impl From<StageError> for StageFailure {
    fn from(error: StageError) -> Self {
        StageFailure::Plugin(Arc::new(error))
    }
}

impl From<IngestError> for StageFailure {
    fn from(error: IngestError) -> Self {
        StageFailure::Ingest(Arc::new(error))
    }
}

impl From<SinkError> for StageFailure {
    fn from(error: SinkError) -> Self {
        StageFailure::Sink(Arc::new(error))
    }
}

impl From<ArtifactError> for StageFailure {
    fn from(error: ArtifactError) -> Self {
        StageFailure::Artifact(Arc::new(error))
    }
}
