//! A run's artifacts: every stage output port as an Arrow IPC stream file under
//! `<state>/runs/<run_id>/artifacts/<stage>/<port>.arrows`. Stages stream from and to them, so
//! memory stays bounded, and a resumed run reuses those of the stages that succeeded.

use std::fs::File;
use std::io::{BufReader, BufWriter};
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
        let path = self.path(stage, port);
        match File::open(&path) {
            Ok(file) => {
                let reader = StreamReader::try_new(BufReader::with_capacity(1 << 20, file), None)
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
