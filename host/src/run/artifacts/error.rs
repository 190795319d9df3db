//! What goes wrong with an artifact: [`ArtifactError`], naming the stage and output port it is
//! of, its file, and what was being done.

use std::io;
use std::path::{Path, PathBuf};

use arrow_schema::{ArrowError, DataType};

/// Why reading, writing or summing an artifact failed. Every variant names the stage and output
/// port the artifact is of, and its file where one is involved; the operation is named by the
/// variant or its `operation` field.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be opened, created, read, written or synced.
    #[error("artifact {}: cannot {operation}: {source}", path.display())]
    Io {
        stage: String,
        port: String,
        path: PathBuf,
        operation: &'static str,
        #[source]
        source: io::Error,
    },
    /// Arrow could not write, decode or project its batches.
    #[error("artifact {}: cannot {operation}: {source}", path.display())]
    Arrow {
        stage: String,
        port: String,
        path: PathBuf,
        operation: &'static str,
        #[source]
        source: ArrowError,
    },
    /// The attempt of `stage` that a reader followed while it ran failed under it: the reader's
    /// own stage runs again on `stage`'s next attempt (see [`super::Follow::interrupted`]).
    #[error("artifact {}: stage \"{stage}\" failed while this output was read", path.display())]
    Interrupted { stage: String, port: String, path: PathBuf },
    /// A column asked for (to project or to sum) is not in the artifact.
    #[error("artifact {}: no column `{column}`", path.display())]
    NoColumn { stage: String, port: String, path: PathBuf, column: String },
    /// A column asked to sum is not a Decimal128 column.
    #[error("column `{column}` of {stage}.{port} is {data_type}, not a decimal")]
    NotDecimal { stage: String, port: String, column: String, data_type: DataType },
}

impl ArtifactError {
    /// The stage whose output the artifact is.
    pub fn stage(&self) -> &str {
        match self {
            ArtifactError::Io { stage, .. }
            | ArtifactError::Arrow { stage, .. }
            | ArtifactError::Interrupted { stage, .. }
            | ArtifactError::NoColumn { stage, .. }
            | ArtifactError::NotDecimal { stage, .. } => stage,
        }
    }

    /// The stage's output port the artifact is.
    pub fn port(&self) -> &str {
        match self {
            ArtifactError::Io { port, .. }
            | ArtifactError::Arrow { port, .. }
            | ArtifactError::Interrupted { port, .. }
            | ArtifactError::NoColumn { port, .. }
            | ArtifactError::NotDecimal { port, .. } => port,
        }
    }

    /// The file involved, if one is.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ArtifactError::Io { path, .. }
            | ArtifactError::Arrow { path, .. }
            | ArtifactError::Interrupted { path, .. }
            | ArtifactError::NoColumn { path, .. } => Some(path),
            ArtifactError::NotDecimal { .. } => None,
        }
    }
}

/// For callers that still report errors as text: `?` turns an artifact error into its message.
impl From<ArtifactError> for String {
    fn from(error: ArtifactError) -> String {
        error.to_string()
    }
}

/// One file of a stage's output port, to name in the errors of what is done to it.
#[derive(Debug, Clone)]
pub(super) struct Location {
    pub stage: String,
    pub port: String,
    pub path: PathBuf,
}

impl Location {
    /// A closure making an [`ArtifactError::Io`] for `operation`, for `map_err`.
    pub fn io(&self, operation: &'static str) -> impl FnOnce(io::Error) -> ArtifactError {
        move |source| ArtifactError::Io {
            stage: self.stage.clone(),
            port: self.port.clone(),
            path: self.path.clone(),
            operation,
            source,
        }
    }

    /// A closure making an [`ArtifactError::Arrow`] for `operation`, for `map_err`.
    pub fn arrow(&self, operation: &'static str) -> impl FnOnce(ArrowError) -> ArtifactError {
        move |source| ArtifactError::Arrow {
            stage: self.stage.clone(),
            port: self.port.clone(),
            path: self.path.clone(),
            operation,
            source,
        }
    }

    pub fn interrupted(&self) -> ArtifactError {
        ArtifactError::Interrupted { stage: self.stage.clone(), port: self.port.clone(), path: self.path.clone() }
    }

    pub fn no_column(&self, column: &str) -> ArtifactError {
        ArtifactError::NoColumn {
            stage: self.stage.clone(),
            port: self.port.clone(),
            path: self.path.clone(),
            column: column.to_owned(),
        }
    }
}
