//! A run's artifacts: every stage output port as an Arrow IPC stream file under
//! `<state>/runs/<run_id>/artifacts/<stage>/<port>.arrows`. Stages stream from and to them, so
//! memory stays bounded, and a resumed run reuses those of the stages that succeeded.
//!
//! Dependents may read an artifact while it is being written: the writer publishes how many bytes
//! of whole messages are on disk after each batch, and a reader of a running stage's output
//! blocks at that mark until there is more (see [`Live`]). It reaches the end of the stream only
//! once the stage's attempt has succeeded; if the attempt fails, the reader fails and marks its
//! stage [`Follow::interrupted`], so the scheduler runs it again on the next attempt.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use arrow_array::{Array, RecordBatch};
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, SchemaRef};
use serde::{Deserialize, Serialize};

use super::messages;
use crate::writeback::WriteBehind;

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

    /// The sum of the Decimal128 `column` of `stage`'s output `port` (0 for an output never
    /// written): as the stage's writer recorded it, or else (an artifact from a version that
    /// recorded none) by reading the column.
    pub fn decimal_sum(&self, stage: &str, port: &str, column: &str) -> Result<DecimalSum, String> {
        let path = self.sums_path(stage, port);
        // The file is not fsynced: one a crash left unreadable is only a cache missed.
        let recorded = std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice::<RecordedSums>(&bytes).ok());
        if let Some(sum) = recorded.and_then(|mut recorded| recorded.columns.remove(column)) {
            return Ok(sum);
        }
        let mut sum: Option<DecimalSum> = None;
        for batch in self.read_columns(stage, port, &[column])? {
            let batch = batch?;
            let array = batch.column(0);
            let DataType::Decimal128(_, scale) = array.data_type() else {
                return Err(format!("column `{column}` of {stage}.{port} is {}, not a decimal", array.data_type()));
            };
            sum.get_or_insert(DecimalSum { scale: *scale, sum: Some(0) }).add(array.as_ref());
        }
        Ok(sum.unwrap_or(DecimalSum { scale: 0, sum: Some(0) }))
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
    pub fn read(&self, stage: &str, port: &str) -> Result<ArtifactReader, String> {
        self.open(stage, port, None, None)
    }

    /// Like [`read`](Self::read), for a stage reading its input: the time it waits for a running
    /// upstream and an upstream attempt failing under it are recorded in `follow`.
    pub fn follow(&self, stage: &str, port: &str, follow: &Arc<Follow>) -> Result<ArtifactReader, String> {
        self.open(stage, port, None, Some(follow))
    }

    /// Like [`read`](Self::read), each batch with only the columns named (an error if one is
    /// missing); no columns gives batches that only count rows.
    pub fn read_columns(&self, stage: &str, port: &str, columns: &[&str]) -> Result<ArtifactReader, String> {
        self.open(stage, port, Some(columns.iter().map(|&c| c.to_owned()).collect()), None)
    }

    /// The rows in an artifact (0 if it doesn't exist), from the messages' headers alone: the
    /// batches' bodies are skipped, not read.
    pub fn count_rows(&self, stage: &str, port: &str) -> Result<u64, String> {
        let path = self.path(stage, port);
        let fail = |e: std::io::Error| format!("artifact {}: {e}", path.display());
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(fail(e)),
        };
        let len = file.metadata().map_err(fail)?.len();
        let (mut rows, mut offset) = (0u64, 0u64);
        while let Some(frame) = messages::frame_at(&file, offset, len).map_err(fail)? {
            if frame.end {
                return Ok(rows);
            }
            rows += frame.rows.unwrap_or(0);
            offset += frame.len;
        }
        Ok(rows)
    }

    fn open(
        &self,
        stage: &str,
        port: &str,
        columns: Option<Vec<String>>,
        follow: Option<&Arc<Follow>>,
    ) -> Result<ArtifactReader, String> {
        let path = self.path(stage, port);
        let fail = |e: &dyn std::fmt::Display| format!("artifact {}: {e}", path.display());
        // A running stage's output: wait for its first batch (or its end, if it writes none).
        let generation = match self.live.first_batch(stage, port, follow) {
            Ok(generation) => generation,
            Err(error) => return Err(fail(&error)),
        };
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ArtifactReader { path, source: None, decoder: StreamDecoder::new(), position: 0, columns });
            }
            Err(e) => return Err(fail(&e)),
        };
        let tail = generation.map(|generation| Tail {
            live: Arc::clone(&self.live),
            stage: stage.to_owned(),
            port: port.to_owned(),
            generation,
            follow: follow.cloned(),
        });
        Ok(ArtifactReader {
            path,
            source: Some(Source { file, tail }),
            decoder: StreamDecoder::new(),
            position: 0,
            columns,
        })
    }
}

/// What a stage reading its inputs learns from following running upstreams.
#[derive(Debug, Default)]
pub struct Follow {
    waited_ns: AtomicU64,
    interrupted: AtomicBool,
}

impl Follow {
    /// How long its readers have waited for running upstreams to write more.
    pub fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed))
    }

    /// Whether an upstream attempt it was reading failed under it.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }
}

/// Where the outputs of the run's stages stand, for readers that follow them while they are
/// written. Stages not [`expect`](Live::expect)ed are finished: their files are read as they are.
#[derive(Debug, Default)]
pub struct Live {
    stages: Mutex<HashMap<String, LiveStage>>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct LiveStage {
    phase: Phase,
    /// Attempts begun; a reader stays with the attempt it started on.
    generation: u64,
    /// Per port, the bytes of whole messages on disk in this attempt.
    committed: HashMap<String, u64>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not started, or between attempts: readers wait.
    #[default]
    Waiting,
    Writing,
    /// The attempt succeeded: its files are whole.
    Done,
    /// It will not run again.
    Failed,
}

impl Live {
    /// Marks `stage` as one this run will write: readers wait for it.
    pub fn expect(&self, stage: &str) {
        self.lock().insert(stage.to_owned(), LiveStage::default());
    }

    /// An attempt of `stage` starts writing (its directory is empty).
    pub fn begin(&self, stage: &str) {
        self.update(stage, |s| {
            s.phase = Phase::Writing;
            s.generation += 1;
            s.committed.clear();
        });
    }

    /// `bytes` of `stage`'s `port` are on disk, ending on a message boundary.
    fn commit(&self, stage: &str, port: &str, bytes: u64) {
        self.update(stage, |s| {
            s.committed.insert(port.to_owned(), bytes);
        });
    }

    /// The attempt succeeded.
    pub fn done(&self, stage: &str) {
        self.update(stage, |s| s.phase = Phase::Done);
    }

    /// The attempt failed; the stage may run again.
    pub fn abort(&self, stage: &str) {
        self.update(stage, |s| s.phase = Phase::Waiting);
    }

    /// The stage will not run again.
    pub fn fail(&self, stage: &str) {
        self.update(stage, |s| s.phase = Phase::Failed);
    }

    /// Waits until each of `stages` that this run writes has succeeded, or until no stage runs
    /// any more ([`settle`](Self::settle)): either way their files are then whole, and read as
    /// they are.
    pub fn wait_finished(&self, stages: &[&str]) {
        let mut live = self.lock();
        while stages.iter().any(|stage| live.get(*stage).is_some_and(|state| state.phase != Phase::Done)) {
            live = self.changed.wait(live).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// No stage runs any more: from now on every artifact is read as it is on disk (the
    /// quarantine reads what failed stages rejected).
    pub fn settle(&self) {
        self.lock().clear();
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, LiveStage>> {
        self.stages.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, stage: &str, change: impl FnOnce(&mut LiveStage)) {
        if let Some(state) = self.lock().get_mut(stage) {
            change(state);
            self.changed.notify_all();
        }
    }

    /// Waits until `port` of a running `stage` has its first batch on disk, and returns the
    /// attempt, or `None` when the stage is finished (its file is read as it is).
    fn first_batch(&self, stage: &str, port: &str, follow: Option<&Arc<Follow>>) -> std::io::Result<Option<u64>> {
        let mut stages = self.lock();
        loop {
            let Some(state) = stages.get(stage) else { return Ok(None) };
            match state.phase {
                Phase::Done => return Ok(None),
                Phase::Failed => return Err(interrupted(stage, follow)),
                Phase::Writing if state.committed.get(port).is_some_and(|&b| b > 0) => {
                    return Ok(Some(state.generation));
                }
                Phase::Writing | Phase::Waiting => stages = self.wait(stages, follow),
            }
        }
    }

    /// Waits until attempt `generation` of `stage` has more of `port` than `position` bytes, and
    /// returns how far it may be read (`None`: to the end of the file).
    fn readable(
        &self,
        stage: &str,
        port: &str,
        generation: u64,
        position: u64,
        follow: Option<&Arc<Follow>>,
    ) -> std::io::Result<Option<u64>> {
        let mut stages = self.lock();
        loop {
            let Some(state) = stages.get(stage) else { return Ok(None) };
            if state.generation != generation || matches!(state.phase, Phase::Waiting | Phase::Failed) {
                return Err(interrupted(stage, follow));
            }
            if state.phase == Phase::Done {
                return Ok(None);
            }
            let committed = state.committed.get(port).copied().unwrap_or(0);
            if committed > position {
                return Ok(Some(committed));
            }
            stages = self.wait(stages, follow);
        }
    }

    fn wait<'a>(
        &self,
        stages: MutexGuard<'a, HashMap<String, LiveStage>>,
        follow: Option<&Arc<Follow>>,
    ) -> MutexGuard<'a, HashMap<String, LiveStage>> {
        let start = Instant::now();
        let stages = self.changed.wait(stages).unwrap_or_else(|e| e.into_inner());
        if let Some(follow) = follow {
            follow.waited_ns.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        stages
    }
}

fn interrupted(stage: &str, follow: Option<&Arc<Follow>>) -> std::io::Error {
    if let Some(follow) = follow {
        follow.interrupted.store(true, Ordering::Relaxed);
    }
    std::io::Error::other(format!("stage \"{stage}\" failed while this output was read"))
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
    stage: String,
    port: String,
    generation: u64,
    follow: Option<Arc<Follow>>,
}

impl Source {
    /// How much of the file may be read, once there is more than `position`: what a running
    /// stage has committed (waiting for it to commit more), or all of a whole file.
    fn readable(&mut self, position: u64) -> std::io::Result<u64> {
        if let Some(tail) = &self.tail {
            match tail.live.readable(&tail.stage, &tail.port, tail.generation, position, tail.follow.as_ref())? {
                Some(end) => return Ok(end),
                None => self.tail = None,
            }
        }
        Ok(self.file.metadata()?.len())
    }
}

/// Batches of one artifact, in order, each message mapped from the file rather than copied
/// (see [`messages`]).
pub struct ArtifactReader {
    path: PathBuf,
    /// `None` for an output never written, and once the stream has ended.
    source: Option<Source>,
    decoder: StreamDecoder,
    /// Where the next message starts.
    position: u64,
    /// The columns to keep of each batch, by name; all if `None`.
    columns: Option<Vec<String>>,
}

impl std::fmt::Debug for ArtifactReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactReader").field("path", &self.path).finish_non_exhaustive()
    }
}

impl ArtifactReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, String> {
        let fail = |e: &dyn std::fmt::Display| format!("artifact {}: {e}", self.path.display());
        while let Some(source) = &mut self.source {
            let available = source.readable(self.position).map_err(|e| fail(&e))?;
            let frame = match messages::frame_at(&source.file, self.position, available).map_err(|e| fail(&e))? {
                Some(frame) if !frame.end => frame,
                // The end of the stream: its marker, or the end of a whole file.
                _ => {
                    self.source = None;
                    self.decoder.finish().map_err(|e| fail(&e))?;
                    return Ok(None);
                }
            };
            let mut message = messages::load(&source.file, self.position, frame.len).map_err(|e| fail(&e))?;
            self.position += frame.len;
            // A schema (or dictionary) message decodes to no batch: on to the next message.
            if let Some(batch) = self.decoder.decode(&mut message).map_err(|e| fail(&e))? {
                return self.project(batch).map(Some).map_err(|e| fail(&e));
            }
        }
        Ok(None)
    }

    fn project(&self, batch: RecordBatch) -> Result<RecordBatch, String> {
        let Some(columns) = &self.columns else { return Ok(batch) };
        let indices = columns
            .iter()
            .map(|name| batch.schema_ref().index_of(name).map_err(|_| format!("no column `{name}`")))
            .collect::<Result<Vec<usize>, String>>()?;
        batch.project(&indices).map_err(|e| e.to_string())
    }
}

impl Iterator for ArtifactReader {
    type Item = Result<RecordBatch, String>;

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

/// Writes the output ports of one stage attempt, each opened on its first batch.
#[derive(Default)]
pub struct PortWriters {
    writers: Vec<PortWriter>,
}

struct PortWriter {
    port: String,
    stream: StreamWriter<BufWriter<File>>,
    rows: u64,
    writeback: WriteBehind,
    /// The running sum of each Decimal128 column, by column index.
    sums: Vec<(usize, String, DecimalSum)>,
}

/// The exact sum of a Decimal128 column's values (nulls count as nothing), in units of
/// `10^-scale`; `None` once it no longer fits 128 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecimalSum {
    pub scale: i8,
    #[serde(with = "optional_i128_text")]
    pub sum: Option<i128>,
}

impl DecimalSum {
    /// Adds the values of `array`, a Decimal128 array of this scale.
    fn add(&mut self, array: &dyn Array) {
        let Some(values) = array.as_primitive_opt::<Decimal128Type>() else { return };
        let part = if values.null_count() == 0 {
            values.values().iter().try_fold(0i128, |sum, &v| sum.checked_add(v))
        } else {
            values.iter().flatten().try_fold(0i128, |sum, v| sum.checked_add(v))
        };
        self.sum = self.sum.zip(part).and_then(|(sum, part)| sum.checked_add(part));
    }
}

/// An artifact's `<port>.sums.json`: its decimal columns' sums, by name.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RecordedSums {
    columns: std::collections::BTreeMap<String, DecimalSum>,
}

/// An i128 as a JSON string (JSON numbers lose precision past 2^53 in most readers).
mod optional_i128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<i128>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_some(&value.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i128>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl std::fmt::Debug for PortWriters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<&str> = self.writers.iter().map(|w| w.port.as_str()).collect();
        f.debug_struct("PortWriters").field("ports", &ports).finish()
    }
}

impl PortWriters {
    pub fn write(&mut self, artifacts: &Artifacts, stage: &str, port: &str, batch: &RecordBatch) -> Result<(), String> {
        let index = match self.writers.iter().position(|w| w.port == port) {
            Some(i) => i,
            None => {
                let stream = open_writer(&artifacts.path(stage, port), &batch.schema())?;
                let sums = batch
                    .schema()
                    .fields()
                    .iter()
                    .enumerate()
                    .filter_map(|(index, field)| match field.data_type() {
                        DataType::Decimal128(_, scale) => {
                            Some((index, field.name().clone(), DecimalSum { scale: *scale, sum: Some(0) }))
                        }
                        _ => None,
                    })
                    .collect();
                self.writers.push(PortWriter {
                    port: port.to_owned(),
                    stream,
                    rows: 0,
                    writeback: WriteBehind::default(),
                    sums,
                });
                self.writers.len() - 1
            }
        };
        let writer = &mut self.writers[index];
        let fail = |e: &dyn std::fmt::Display| format!("writing artifact {stage}.{port}: {e}");
        writer.stream.write(batch).map_err(|e| fail(&e))?;
        writer.rows += batch.num_rows() as u64;
        for (index, _, sum) in &mut writer.sums {
            sum.add(batch.column(*index).as_ref());
        }
        // Readers following the stage may now read this batch.
        writer.stream.flush().map_err(|e| fail(&e))?;
        let file = writer.stream.get_mut().get_mut();
        let written = file.stream_position().map_err(|e| fail(&e))?;
        writer.writeback.wrote(file, written);
        artifacts.live.commit(stage, port, written);
        Ok(())
    }

    /// Rows written per port.
    pub fn rows(&self, port: &str) -> u64 {
        self.writers.iter().find(|w| w.port == port).map_or(0, |w| w.rows)
    }

    /// Ends every stream and makes it durable, with the sums of its decimal columns beside it.
    pub fn finish(self, artifacts: &Artifacts, stage: &str) -> Result<(), String> {
        for PortWriter { port, mut stream, sums, .. } in self.writers {
            let recorded = RecordedSums { columns: sums.into_iter().map(|(_, name, sum)| (name, sum)).collect() };
            let path = artifacts.sums_path(stage, &port);
            let json = serde_json::to_vec(&recorded).map_err(|e| format!("artifact sums {}: {e}", path.display()))?;
            std::fs::write(&path, json).map_err(|e| format!("artifact sums {}: {e}", path.display()))?;
            stream.finish().map_err(|e| format!("finishing artifact {port}: {e}"))?;
            let file = stream.into_inner().map_err(|e| format!("finishing artifact {port}: {e}"))?;
            file.into_inner()
                .map_err(|e| format!("finishing artifact {port}: {}", e.error()))?
                .sync_data()
                .map_err(|e| format!("finishing artifact {port}: {e}"))?;
        }
        Ok(())
    }
}

fn open_writer(path: &Path, schema: &SchemaRef) -> Result<StreamWriter<BufWriter<File>>, String> {
    // A new file, never an old one truncated: a reader may have the old one mapped.
    let file = File::create_new(path).map_err(|e| format!("artifact {}: {e}", path.display()))?;
    StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema)
        .map_err(|e| format!("artifact {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
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
        // The last batch is large enough to be mapped rather than read.
        for (from, rows) in [(0, 3), (3, 0), (3, 1000), (1003, 1), (1004, 20_000)] {
            writers.write(&artifacts, "s", "out", &batch(from, rows)).unwrap();
        }
        writers.finish(&artifacts, "s").unwrap();

        assert_eq!(artifacts.count_rows("s", "out").unwrap(), 21_004);
        assert_eq!(artifacts.count_rows("s", "missing").unwrap(), 0);
        let read: Vec<RecordBatch> = artifacts.read("s", "out").unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(ids(&read), (0..21_004).collect::<Vec<i64>>());

        let projected: Vec<RecordBatch> =
            artifacts.read_columns("s", "out", &["n"]).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(projected.iter().all(|b| b.num_columns() == 1 && b.schema().field(0).name() == "n"));
        assert_eq!(projected.iter().map(RecordBatch::num_rows).sum::<usize>(), 21_004);
        let mut missing = artifacts.read_columns("s", "out", &["nope"]).unwrap();
        let error = missing.next().unwrap().unwrap_err();
        assert!(error.ends_with("no column `nope`"), "{error}");
        assert!(missing.next().is_none(), "a reader ends at its first error");

        // A stream cut short is an error, not a smaller count.
        let path = artifacts.path("s", "out");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
        let error = artifacts.count_rows("s", "out").unwrap_err();
        assert!(error.contains("truncated stream"), "{error}");
        let error = artifacts.read("s", "out").unwrap().find_map(Result::err).unwrap();
        assert!(error.contains("truncated stream"), "{error}");
    }

    fn amounts(scale: i8, values: &[Option<i128>]) -> RecordBatch {
        let array = arrow_array::Decimal128Array::from(values.to_vec()).with_precision_and_scale(38, scale).unwrap();
        RecordBatch::try_from_iter([("amount", Arc::new(array) as ArrayRef)]).unwrap()
    }

    #[test]
    fn records_the_sums_of_decimal_columns_and_falls_back_to_reading_them() {
        let scratch = Scratch::new("artifacts");
        let artifacts = Artifacts::new(scratch.path(), "r1");
        artifacts.reset_stage("s").unwrap();
        let mut writers = PortWriters::default();
        writers.write(&artifacts, "s", "out", &amounts(2, &[Some(150), None, Some(-25)])).unwrap();
        writers.write(&artifacts, "s", "out", &amounts(2, &[Some(1)])).unwrap();
        writers.write(&artifacts, "s", "big", &amounts(0, &[Some(i128::MAX), Some(1)])).unwrap();
        writers.finish(&artifacts, "s").unwrap();

        let expected = DecimalSum { scale: 2, sum: Some(126) };
        assert_eq!(artifacts.decimal_sum("s", "out", "amount").unwrap(), expected);
        // Past 128 bits the sum is unknown, not wrapped.
        assert_eq!(artifacts.decimal_sum("s", "big", "amount").unwrap().sum, None);
        // Without (or with an unreadable) record, the column is read and summed the same way.
        let record = artifacts.sums_path("s", "out");
        std::fs::write(&record, b"{\"columns\":").unwrap();
        assert_eq!(artifacts.decimal_sum("s", "out", "amount").unwrap(), expected);
        std::fs::remove_file(&record).unwrap();
        assert_eq!(artifacts.decimal_sum("s", "out", "amount").unwrap(), expected);
        let error = artifacts.decimal_sum("s", "out", "nope").unwrap_err();
        assert!(error.ends_with("no column `nope`"), "{error}");
        // An output never written sums to zero.
        assert_eq!(artifacts.decimal_sum("s", "missing", "amount").unwrap().sum, Some(0));
    }

    fn ids(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| b.column(1).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec())
            .collect()
    }

    /// Reads `port` of `stage` on another thread, following it, and sends each batch's rows as
    /// they arrive; the last message is the end (`Ok(None)`) or the error.
    fn follower(
        artifacts: &Artifacts,
        follow: &Arc<Follow>,
        port: &str,
    ) -> std::sync::mpsc::Receiver<Result<Option<Vec<i64>>, String>> {
        let (send, receive) = std::sync::mpsc::channel();
        let (artifacts, follow, port) = (artifacts.clone(), Arc::clone(follow), port.to_owned());
        std::thread::spawn(move || {
            let reader = match artifacts.follow("s", &port, &follow) {
                Ok(reader) => reader,
                Err(e) => return send.send(Err(e)).unwrap(),
            };
            for batch in reader {
                let message = batch.map(|b| Some(ids(&[b])));
                let failed = message.is_err();
                send.send(message).unwrap();
                if failed {
                    return;
                }
            }
            send.send(Ok(None)).unwrap();
        });
        receive
    }

    const PATIENCE: Duration = Duration::from_secs(10);

    #[test]
    fn a_reader_follows_a_running_stage_batch_by_batch_and_ends_only_when_it_is_done() {
        let scratch = Scratch::new("artifacts-live");
        let artifacts = Artifacts::new(scratch.path(), "r1");
        artifacts.live().expect("s");
        let follow = Arc::new(Follow::default());
        // Opened before the stage even starts: it waits for the first batch.
        let rows = follower(&artifacts, &follow, "out");
        let nothing = follower(&artifacts, &follow, "never_written");

        artifacts.reset_stage("s").unwrap();
        artifacts.live().begin("s");
        let mut writers = PortWriters::default();
        writers.write(&artifacts, "s", "out", &batch(0, 3)).unwrap();
        assert_eq!(rows.recv_timeout(PATIENCE).unwrap(), Ok(Some(vec![0, 1, 2])));
        writers.write(&artifacts, "s", "out", &batch(3, 2)).unwrap();
        assert_eq!(rows.recv_timeout(PATIENCE).unwrap(), Ok(Some(vec![3, 4])));
        // Finished but not yet done: the reader must not take the stream's end for the stage's.
        writers.finish(&artifacts, "s").unwrap();
        assert!(rows.recv_timeout(Duration::from_millis(50)).is_err(), "ended before the stage was done");
        assert!(nothing.recv_timeout(Duration::from_millis(50)).is_err(), "ended before the stage was done");

        artifacts.live().done("s");
        assert_eq!(rows.recv_timeout(PATIENCE).unwrap(), Ok(None));
        assert_eq!(nothing.recv_timeout(PATIENCE).unwrap(), Ok(None), "a port never written has no rows");
        assert!(!follow.interrupted());
        assert!(follow.waited() > Duration::ZERO);
    }

    #[test]
    fn a_failed_attempt_interrupts_its_readers_and_the_next_one_is_read_from_the_start() {
        let scratch = Scratch::new("artifacts-abort");
        let artifacts = Artifacts::new(scratch.path(), "r1");
        artifacts.live().expect("s");
        artifacts.reset_stage("s").unwrap();
        artifacts.live().begin("s");
        let follow = Arc::new(Follow::default());
        let rows = follower(&artifacts, &follow, "out");
        let mut writers = PortWriters::default();
        writers.write(&artifacts, "s", "out", &batch(0, 3)).unwrap();
        assert_eq!(rows.recv_timeout(PATIENCE).unwrap(), Ok(Some(vec![0, 1, 2])));

        // The attempt fails: its reader fails too, and says so.
        drop(writers);
        artifacts.live().abort("s");
        let error = rows.recv_timeout(PATIENCE).unwrap().unwrap_err();
        assert!(error.contains("stage \"s\" failed while this output was read"), "{error}");
        assert!(follow.interrupted());

        // A reader opened between attempts waits for the next one and reads only it.
        let again = Arc::new(Follow::default());
        let rows = follower(&artifacts, &again, "out");
        artifacts.reset_stage("s").unwrap();
        artifacts.live().begin("s");
        let mut writers = PortWriters::default();
        writers.write(&artifacts, "s", "out", &batch(10, 2)).unwrap();
        writers.finish(&artifacts, "s").unwrap();
        artifacts.live().done("s");
        assert_eq!(rows.recv_timeout(PATIENCE).unwrap(), Ok(Some(vec![10, 11])));
        assert_eq!(rows.recv_timeout(PATIENCE).unwrap(), Ok(None));
        assert!(!again.interrupted());

        // A stage that will not run again fails whoever waits for it.
        artifacts.live().expect("s");
        let rows = follower(&artifacts, &again, "out");
        artifacts.live().fail("s");
        assert!(rows.recv_timeout(PATIENCE).unwrap().is_err());
    }

    #[test]
    fn waiting_for_stages_ends_when_they_succeed_or_nothing_runs_any_more() {
        let scratch = Scratch::new("artifacts-wait");
        let artifacts = Artifacts::new(scratch.path(), "r1");
        for stage in ["a", "b"] {
            artifacts.live().expect(stage);
        }
        let waiter = |stages: &'static [&'static str]| {
            let (send, receive) = std::sync::mpsc::channel();
            let artifacts = artifacts.clone();
            std::thread::spawn(move || {
                artifacts.live().wait_finished(stages);
                send.send(()).unwrap();
            });
            receive
        };
        // A stage this run does not write is finished already.
        waiter(&["elsewhere"]).recv_timeout(PATIENCE).unwrap();

        let both = waiter(&["a", "b"]);
        artifacts.live().begin("a");
        artifacts.live().done("a");
        assert!(both.recv_timeout(Duration::from_millis(50)).is_err(), "ended while b had not run");
        // An attempt that fails and one that will not run again: still waiting.
        artifacts.live().begin("b");
        artifacts.live().abort("b");
        artifacts.live().fail("b");
        assert!(both.recv_timeout(Duration::from_millis(50)).is_err(), "ended while b's run was not over");
        artifacts.live().settle();
        both.recv_timeout(PATIENCE).unwrap();

        artifacts.live().expect("a");
        let one = waiter(&["a"]);
        artifacts.live().begin("a");
        artifacts.live().done("a");
        one.recv_timeout(PATIENCE).unwrap();
    }
}
