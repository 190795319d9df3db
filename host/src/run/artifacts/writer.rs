//! Writing a stage attempt's outputs: [`PortWriters`] appends each port's batches to its Arrow
//! IPC stream file, commits every batch for the readers following the stage (see
//! [`super::live`]), keeps the sums of its decimal columns, and makes the file durable when the
//! attempt finishes.

use std::fs::File;
use std::io::{BufWriter, Seek};

use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, SchemaRef};

use super::Artifacts;
use super::error::{ArtifactError, Location};
use super::sums::{self, DecimalSum};
use crate::writeback::WriteBehind;

/// Writes the output ports of one stage attempt, each opened on its first batch.
#[derive(Default)]
pub struct PortWriters {
    writers: Vec<PortWriter>,
}

struct PortWriter {
    at: Location,
    stream: StreamWriter<BufWriter<File>>,
    rows: u64,
    writeback: WriteBehind,
    /// The running sum of each Decimal128 column, by column index.
    sums: Vec<(usize, String, DecimalSum)>,
}

impl std::fmt::Debug for PortWriters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<&str> = self.writers.iter().map(|w| w.at.port.as_str()).collect();
        f.debug_struct("PortWriters").field("ports", &ports).finish()
    }
}

impl PortWriters {
    /// Appends `batch` to `stage`'s output `port`, creating its file on its first batch; readers
    /// following the stage may read it once this returns.
    pub fn write(
        &mut self,
        artifacts: &Artifacts,
        stage: &str,
        port: &str,
        batch: &RecordBatch,
    ) -> Result<(), ArtifactError> {
        let index = match self.writers.iter().position(|w| w.at.port == port) {
            Some(i) => i,
            None => {
                self.writers.push(PortWriter::create(artifacts.location(stage, port), batch.schema_ref())?);
                self.writers.len() - 1
            }
        };
        let writer = &mut self.writers[index];
        let at = &writer.at;
        writer.stream.write(batch).map_err(at.arrow("write"))?;
        writer.rows += batch.num_rows() as u64;
        for (index, _, sum) in &mut writer.sums {
            sum.add(batch.column(*index).as_ref());
        }
        // Readers following the stage may now read this batch.
        writer.stream.flush().map_err(at.arrow("write"))?;
        let file = writer.stream.get_mut().get_mut();
        let written = file.stream_position().map_err(at.io("write"))?;
        writer.writeback.wrote(file, written);
        artifacts.live.commit(stage, port, written);
        Ok(())
    }

    /// Rows written per port.
    pub fn rows(&self, port: &str) -> u64 {
        self.writers.iter().find(|w| w.at.port == port).map_or(0, |w| w.rows)
    }

    /// Ends every stream and makes it durable, with the sums of its decimal columns beside it.
    pub fn finish(self, artifacts: &Artifacts, stage: &str) -> Result<(), ArtifactError> {
        for PortWriter { at, mut stream, sums, .. } in self.writers {
            let sums_at = Location { path: artifacts.sums_path(stage, &at.port), ..at.clone() };
            sums::record(&sums_at, sums.into_iter().map(|(_, name, sum)| (name, sum)))?;
            stream.finish().map_err(at.arrow("finish"))?;
            let file = stream.into_inner().map_err(at.arrow("finish"))?;
            file.into_inner().map_err(|e| at.io("finish")(e.into_error()))?.sync_data().map_err(at.io("sync"))?;
        }
        Ok(())
    }
}

impl PortWriter {
    fn create(at: Location, schema: &SchemaRef) -> Result<Self, ArtifactError> {
        // A new file, never an old one truncated: a reader may have the old one mapped.
        let file = File::create_new(&at.path).map_err(at.io("create"))?;
        let stream =
            StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema).map_err(at.arrow("write"))?;
        let sums = schema
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
        Ok(PortWriter { at, stream, rows: 0, writeback: WriteBehind::default(), sums })
    }
}
