//! A run's artifacts: every stage output port as an Arrow IPC stream file under
//! `<state>/runs/<run_id>/artifacts/<stage>/<port>.arrows`. Stages stream from and to them, so
//! memory stays bounded, and a resumed run reuses those of the stages that succeeded.
//!
//! Dependents may read an artifact while it is being written: the writer publishes how many bytes
//! of whole messages are on disk after each batch, and a reader of a running stage's output
//! blocks at that mark until there is more (see [`Live`]). It reaches the end of the stream only
//! once the stage's attempt has succeeded; if the attempt fails, the reader fails
//! ([`ArtifactError::Interrupted`]) and marks its stage [`Follow::interrupted`], so the scheduler
//! runs it again on the next attempt.
//!
//! This module has the layout ([`Artifacts`]); [`live`] follows running stages, [`reader`] and
//! [`writer`] read and write the files, [`sums`] keeps the sums of decimal columns, and [`error`]
//! says what went wrong.

mod error;
mod live;
mod reader;
mod sums;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::ArtifactError;
use error::Location;
pub use live::{Follow, Live};
pub use reader::ArtifactReader;
pub use sums::DecimalSum;
pub use writer::PortWriters;

/// The artifact directory of one run.
#[derive(Debug, Clone)]
pub struct Artifacts {
    dir: PathBuf,
    live: Arc<Live>,
}

impl Artifacts {
    pub fn new(state_dir: &Path, run_id: &str) -> Self {
        Artifacts { dir: state_dir.join("runs").join(run_id).join("artifacts"), live: Arc::default() }
    }

    /// What stages of this run are writing, for readers to follow.
    pub fn live(&self) -> &Live {
        &self.live
    }

    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.dir.join(stage)
    }

    pub fn path(&self, stage: &str, port: &str) -> PathBuf {
        self.stage_dir(stage).join(format!("{port}.arrows"))
    }

    /// Where the sums of an artifact's decimal columns are kept, beside it.
    fn sums_path(&self, stage: &str, port: &str) -> PathBuf {
        self.stage_dir(stage).join(format!("{port}.sums.json"))
    }

    /// `stage`'s output `port` and its file, to name in errors.
    fn location(&self, stage: &str, port: &str) -> Location {
        Location { stage: stage.to_owned(), port: port.to_owned(), path: self.path(stage, port) }
    }

    /// Empties the stage's directory before an attempt writes it.
    pub fn reset_stage(&self, stage: &str) -> std::io::Result<()> {
        let dir = self.stage_dir(stage);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(dir)
    }

    /// Hard-links (or copies) the artifacts of `stage` from an earlier run's directory.
    pub fn adopt(&self, earlier: &Artifacts, stage: &str) -> std::io::Result<()> {
        self.reset_stage(stage)?;
        let from = earlier.stage_dir(stage);
        if !from.exists() {
            return Ok(());
        }
        for entry in std::fs::read_dir(&from)? {
            let entry = entry?;
            let target = self.stage_dir(stage).join(entry.file_name());
            if std::fs::hard_link(entry.path(), &target).is_err() {
                std::fs::copy(entry.path(), &target)?;
            }
        }
        Ok(())
    }

    /// Streams the batches of `stage`'s output `port`; an output the stage never wrote has none.
    /// If the stage is running, follows the file as it is written (see the module's docs).
    pub fn read(&self, stage: &str, port: &str) -> Result<ArtifactReader, ArtifactError> {
        ArtifactReader::open(&self.live, self.location(stage, port), None, None)
    }

    /// Like [`read`](Self::read), for a stage reading its input: the time it waits for a running
    /// upstream and an upstream attempt failing under it are recorded in `follow`.
    pub fn follow(&self, stage: &str, port: &str, follow: &Arc<Follow>) -> Result<ArtifactReader, ArtifactError> {
        ArtifactReader::open(&self.live, self.location(stage, port), None, Some(follow))
    }

    /// Like [`read`](Self::read), each batch with only the columns named (an error if one is
    /// missing); no columns gives batches that only count rows.
    pub fn read_columns(&self, stage: &str, port: &str, columns: &[&str]) -> Result<ArtifactReader, ArtifactError> {
        let columns = columns.iter().map(|&c| c.to_owned()).collect();
        ArtifactReader::open(&self.live, self.location(stage, port), Some(columns), None)
    }

    /// The rows in an artifact (0 if it doesn't exist), from the messages' headers alone: the
    /// batches' bodies are skipped, not read.
    pub fn count_rows(&self, stage: &str, port: &str) -> Result<u64, ArtifactError> {
        reader::count_rows(&self.location(stage, port))
    }

    /// The sum of the Decimal128 `column` of `stage`'s output `port` (0 for an output never
    /// written): as the stage's writer recorded it, or else (an artifact from a version that
    /// recorded none) by reading the column.
    pub fn decimal_sum(&self, stage: &str, port: &str, column: &str) -> Result<DecimalSum, ArtifactError> {
        sums::decimal_sum(self, stage, port, column)
    }
}
