//! Reading an artifact: [`ArtifactReader`] streams its batches in order, each message mapped from
//! the file rather than copied (see [`messages`]), following a running stage's output as it is
//! written; [`count_rows`] counts its rows from the messages' headers alone.

use std::fs::File;
use std::io;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamDecoder;

use super::error::{ArtifactError, Location};
use super::live::{Follow, Interrupted, Live};
use crate::run::messages;

/// Batches of one artifact, in order, each message mapped from the file rather than copied
/// (see [`messages`]). Ends at its first error.
pub struct ArtifactReader {
    at: Location,
    /// `None` for an output never written, and once the stream has ended.
    source: Option<Source>,
    decoder: StreamDecoder,
    /// Where the next message starts.
    position: u64,
    /// The columns to keep of each batch, by name; all if `None`.
    columns: Option<Vec<String>>,
}

/// An artifact file: whole, or being written by a running stage.
struct Source {
    file: File,
    /// Set while the stage writing the file is running; `None` once the file is whole.
    tail: Option<Tail>,
}

/// A running stage's output: readable up to what it has committed.
struct Tail {
    live: Arc<Live>,
    generation: u64,
    follow: Option<Arc<Follow>>,
}

impl std::fmt::Debug for ArtifactReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactReader").field("path", &self.at.path).finish_non_exhaustive()
    }
}

impl ArtifactReader {
    /// Opens the artifact `at`, with only `columns` of each batch if some are named. If its stage
    /// is running (see [`Live`]), first waits for its first batch (or its end, if it writes
    /// none), then follows it; waits and an attempt failing under it are recorded in `follow`.
    pub(super) fn open(
        live: &Arc<Live>,
        at: Location,
        columns: Option<Vec<String>>,
        follow: Option<&Arc<Follow>>,
    ) -> Result<Self, ArtifactError> {
        let generation = live.first_batch(&at.stage, &at.port, follow).map_err(|Interrupted| at.interrupted())?;
        let source = match File::open(&at.path) {
            Ok(file) => {
                let tail =
                    generation.map(|generation| Tail { live: Arc::clone(live), generation, follow: follow.cloned() });
                Some(Source { file, tail })
            }
            // An output never written.
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(at.io("open")(e)),
        };
        Ok(ArtifactReader { at, source, decoder: StreamDecoder::new(), position: 0, columns })
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ArtifactError> {
        while let Some(source) = &mut self.source {
            let available = source.readable(&self.at, self.position)?;
            let frame = match messages::frame_at(&source.file, self.position, available).map_err(self.at.io("read"))? {
                Some(frame) if !frame.end => frame,
                // The end of the stream: its marker, or the end of a whole file.
                _ => {
                    self.source = None;
                    self.decoder.finish().map_err(self.at.arrow("decode"))?;
                    return Ok(None);
                }
            };
            let mut message = messages::load(&source.file, self.position, frame.len).map_err(self.at.io("read"))?;
            self.position += frame.len;
            // A schema (or dictionary) message decodes to no batch: on to the next message.
            if let Some(batch) = self.decoder.decode(&mut message).map_err(self.at.arrow("decode"))? {
                return self.project(batch).map(Some);
            }
        }
        Ok(None)
    }

    fn project(&self, batch: RecordBatch) -> Result<RecordBatch, ArtifactError> {
        let Some(columns) = &self.columns else { return Ok(batch) };
        let indices = columns
            .iter()
            .map(|name| batch.schema_ref().index_of(name).map_err(|_| self.at.no_column(name)))
            .collect::<Result<Vec<usize>, _>>()?;
        batch.project(&indices).map_err(self.at.arrow("project"))
    }
}

impl Iterator for ArtifactReader {
    type Item = Result<RecordBatch, ArtifactError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch() {
            Ok(batch) => batch.map(Ok),
            Err(error) => {
                self.source = None;
                Some(Err(error))
            }
        }
    }
}

impl Source {
    /// How much of the file `at` may be read, once there is more than `position`: what a running
    /// stage has committed (waiting for it to commit more), or all of a whole file.
    fn readable(&mut self, at: &Location, position: u64) -> Result<u64, ArtifactError> {
        if let Some(tail) = &self.tail {
            match tail.live.readable(&at.stage, &at.port, tail.generation, position, tail.follow.as_ref()) {
                Ok(Some(end)) => return Ok(end),
                Ok(None) => self.tail = None,
                Err(Interrupted) => return Err(at.interrupted()),
            }
        }
        Ok(self.file.metadata().map_err(at.io("read"))?.len())
    }
}

/// The rows in the artifact `at` (0 if it doesn't exist), from the messages' headers alone: the
/// batches' bodies are skipped, not read.
pub(super) fn count_rows(at: &Location) -> Result<u64, ArtifactError> {
    let file = match File::open(&at.path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(at.io("open")(e)),
    };
    let len = file.metadata().map_err(at.io("read"))?.len();
    let (mut rows, mut offset) = (0u64, 0u64);
    while let Some(frame) = messages::frame_at(&file, offset, len).map_err(at.io("read"))? {
        if frame.end {
            return Ok(rows);
        }
        rows += frame.rows.unwrap_or(0);
        offset += frame.len;
    }
    Ok(rows)
}
