//! A run's artifacts: every stage output port as an Arrow IPC stream file under
//! `<state>/runs/<run_id>/artifacts/<stage>/<port>.arrows`. Stages stream from and to them, so
//! memory stays bounded, and a resumed run reuses those of the stages that succeeded.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;

/// The artifact directory of one run.
#[derive(Debug, Clone)]
pub struct Artifacts {
    dir: PathBuf,
}

impl Artifacts {
    pub fn new(state_dir: &Path, run_id: &str) -> Self {
        Artifacts { dir: state_dir.join("runs").join(run_id).join("artifacts") }
    }

    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.dir.join(stage)
    }

    pub fn path(&self, stage: &str, port: &str) -> PathBuf {
        self.stage_dir(stage).join(format!("{port}.arrows"))
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
    pub fn read(&self, stage: &str, port: &str) -> Result<ArtifactReader, String> {
        self.open(stage, port, None)
    }

    /// Like [`read`](Self::read), decoding (and validating) only the columns named: the rest of
    /// each batch is read past, not decoded. No columns gives batches that only count rows.
    pub fn read_columns(&self, stage: &str, port: &str, columns: &[&str]) -> Result<ArtifactReader, String> {
        let all = self.open(stage, port, None)?;
        let Some(reader) = &all.reader else { return Ok(all) };
        let schema = reader.schema();
        let projection = columns
            .iter()
            .map(|&name| {
                schema.index_of(name).map_err(|_| format!("artifact {}: no column `{name}`", all.path.display()))
            })
            .collect::<Result<Vec<usize>, String>>()?;
        self.open(stage, port, Some(projection))
    }

    /// The rows in an artifact (0 if it doesn't exist), from the messages' headers alone: the
    /// batches' bodies are skipped, not read.
    pub fn count_rows(&self, stage: &str, port: &str) -> Result<u64, String> {
        let path = self.path(stage, port);
        let fail = |what: String| format!("artifact {}: {what}", path.display());
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(fail(e.to_string())),
        };
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut rows = 0u64;
        let mut word = [0u8; 4];
        loop {
            // A message: the continuation marker, the metadata's length, the metadata (a
            // flatbuffer `Message`, which gives the body's length), then the body.
            reader.read_exact(&mut word).map_err(|e| fail(format!("truncated stream: {e}")))?;
            if word == [0xff; 4] {
                reader.read_exact(&mut word).map_err(|e| fail(format!("truncated stream: {e}")))?;
            }
            let length = i32::from_le_bytes(word);
            if length == 0 {
                return Ok(rows);
            }
            let mut metadata = vec![0u8; usize::try_from(length).map_err(|_| fail(format!("length {length}")))?];
            reader.read_exact(&mut metadata).map_err(|e| fail(format!("truncated stream: {e}")))?;
            let message = arrow_ipc::root_as_message(&metadata).map_err(|e| fail(format!("bad message: {e}")))?;
            if let Some(batch) = message.header_as_record_batch() {
                rows += u64::try_from(batch.length()).map_err(|_| fail("negative batch length".to_owned()))?;
            }
            reader.seek_relative(message.bodyLength()).map_err(|e| fail(e.to_string()))?;
        }
    }

    fn open(&self, stage: &str, port: &str, projection: Option<Vec<usize>>) -> Result<ArtifactReader, String> {
        let path = self.path(stage, port);
        match File::open(&path) {
            Ok(file) => {
                let reader = StreamReader::try_new(BufReader::with_capacity(1 << 20, file), projection)
                    .map_err(|e| format!("artifact {}: {e}", path.display()))?;
                Ok(ArtifactReader { path, reader: Some(reader) })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ArtifactReader { path, reader: None }),
            Err(e) => Err(format!("artifact {}: {e}", path.display())),
        }
    }
}

/// Batches of one artifact, in order.
pub struct ArtifactReader {
    path: PathBuf,
    reader: Option<StreamReader<BufReader<File>>>,
}

impl std::fmt::Debug for ArtifactReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactReader").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Iterator for ArtifactReader {
    type Item = Result<RecordBatch, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let path = &self.path;
        self.reader.as_mut()?.next().map(|r| r.map_err(|e| format!("artifact {}: {e}", path.display())))
    }
}

/// Writes the output ports of one stage attempt, each opened on its first batch.
#[derive(Default)]
pub struct PortWriters {
    writers: Vec<(String, StreamWriter<BufWriter<File>>, u64)>,
}

impl std::fmt::Debug for PortWriters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<&str> = self.writers.iter().map(|(p, _, _)| p.as_str()).collect();
        f.debug_struct("PortWriters").field("ports", &ports).finish()
    }
}

impl PortWriters {
    pub fn write(&mut self, artifacts: &Artifacts, stage: &str, port: &str, batch: &RecordBatch) -> Result<(), String> {
        let index = match self.writers.iter().position(|(p, _, _)| p == port) {
            Some(i) => i,
            None => {
                let writer = open_writer(&artifacts.path(stage, port), &batch.schema())?;
                self.writers.push((port.to_owned(), writer, 0));
                self.writers.len() - 1
            }
        };
        let (_, writer, rows) = &mut self.writers[index];
        writer.write(batch).map_err(|e| format!("writing artifact {stage}.{port}: {e}"))?;
        *rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written per port.
    pub fn rows(&self, port: &str) -> u64 {
        self.writers.iter().find(|(p, _, _)| p == port).map_or(0, |(_, _, r)| *r)
    }

    pub fn finish(self) -> Result<(), String> {
        for (port, mut writer, _) in self.writers {
            writer.finish().map_err(|e| format!("finishing artifact {port}: {e}"))?;
            let file = writer.into_inner().map_err(|e| format!("finishing artifact {port}: {e}"))?;
            file.into_inner()
                .map_err(|e| format!("finishing artifact {port}: {}", e.error()))?
                .sync_data()
                .map_err(|e| format!("finishing artifact {port}: {e}"))?;
        }
        Ok(())
    }
}

fn open_writer(path: &Path, schema: &SchemaRef) -> Result<StreamWriter<BufWriter<File>>, String> {
    let file = File::create(path).map_err(|e| format!("artifact {}: {e}", path.display()))?;
    StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema)
        .map_err(|e| format!("artifact {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, StringArray};

    use super::*;
    use crate::sinks::test_util::Scratch;

    fn batch(from: i64, rows: i64) -> RecordBatch {
        let ids: Vec<String> = (from..from + rows).map(|i| format!("id-{i}")).collect();
        RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
            ("n", Arc::new(Int64Array::from_iter_values(from..from + rows)) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn counts_rows_from_headers_and_reads_only_the_columns_asked_for() {
        let scratch = Scratch::new("artifacts");
        let artifacts = Artifacts::new(scratch.path(), "r1");
        artifacts.reset_stage("s").unwrap();
        let mut writers = PortWriters::default();
        for (from, rows) in [(0, 3), (3, 0), (3, 1000), (1003, 1)] {
            writers.write(&artifacts, "s", "out", &batch(from, rows)).unwrap();
        }
        writers.finish().unwrap();

        assert_eq!(artifacts.count_rows("s", "out").unwrap(), 1004);
        assert_eq!(artifacts.count_rows("s", "missing").unwrap(), 0);
        let read: Vec<RecordBatch> = artifacts.read("s", "out").unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(read.iter().map(RecordBatch::num_rows).sum::<usize>(), 1004);

        let projected: Vec<RecordBatch> =
            artifacts.read_columns("s", "out", &["n"]).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(projected.iter().all(|b| b.num_columns() == 1 && b.schema().field(0).name() == "n"));
        assert_eq!(projected.iter().map(RecordBatch::num_rows).sum::<usize>(), 1004);
        let error = artifacts.read_columns("s", "out", &["nope"]).unwrap_err();
        assert!(error.ends_with("no column `nope`"), "{error}");

        // A stream cut short is an error, not a smaller count.
        let path = artifacts.path("s", "out");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
        let error = artifacts.count_rows("s", "out").unwrap_err();
        assert!(error.contains("truncated stream"), "{error}");
    }
}
