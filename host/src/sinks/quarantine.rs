//! The quarantine of one source for one run: every row a stage rejected, with the text it was
//! read as (settled details 11, 16 and 21), as Parquet under
//! `<quarantine root>/<source>/run_id=<run id>/part-00000.parquet`.
//!
//! The columns are [`CsvSchema::quarantine_schema`]'s: `source_file, line_number, stage,
//! reasons, message, raw_line` and one `<column>_raw` per CSV column; the run id lives in the
//! path only. Ingestion's parse errors arrive in that layout already
//! ([`QuarantineWriter::write_parse_errors`]); rows rejected by later stages arrive with the
//! stage's columns and `_line`, `_offset`, `_reasons`, `_message`, and their text is read again
//! from the CSV file by offset ([`QuarantineWriter::write_rejected`]).
//!
//! Quarantines of earlier runs are kept. A run's directory is published atomically when the
//! writer finishes (the protocol of the [module documentation](super), with the staging
//! directory beside the source's directory so that readers globbing it never see it): a re-run
//! with the same run id replaces it whole.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, SchemaRef};

use super::SinkError;
use super::columns::{pick_columns, write_value};
use super::files::{ColumnEncodings, ParquetFile};
use super::publish::{Staging, clean_leftovers, sync_parent};
use crate::ingest::{CsvSchema, LINE_COLUMN, OFFSET_COLUMN, read_raw_records};
use crate::untrusted::{NameKind, check_name};

/// The reasons column of rejected rows.
pub const REASONS_COLUMN: &str = "_reasons";
/// The message column of rejected rows (null for validation failures).
pub const MESSAGE_COLUMN: &str = "_message";
/// Rejected rows whose raw text is read again at once.
const RAW_CHUNK_ROWS: usize = 8 * 1024;

/// Writes one run's quarantine of one source; see the [module documentation](self).
#[derive(Debug)]
pub struct QuarantineWriter {
    // Declared first, so that the file is closed before an unpublished staging dir is deleted.
    file: ParquetFile,
    staging: Staging,
    target: String,
    destination: PathBuf,
    source_file: String,
    csv_path: PathBuf,
    csv_schema: CsvSchema,
    schema: SchemaRef,
    rows: u64,
}

impl QuarantineWriter {
    /// Starts the quarantine of `source` (`orders`) for run `run_id`, whose rows come from the
    /// CSV file `csv_path` (named `source_file` in the rows, e.g. `orders.csv`) read with
    /// `csv_schema`. Deletes what writers of `source` that died left behind.
    pub fn create(
        quarantine_root: &Path,
        source: &str,
        run_id: &str,
        source_file: &str,
        csv_path: &Path,
        csv_schema: &CsvSchema,
    ) -> Result<Self, SinkError> {
        check_name(NameKind::Source, source)?;
        check_name(NameKind::RunId, run_id)?;
        let target = format!("quarantine {source}/run_id={run_id}");
        let source_dir = quarantine_root.join(source);
        if !source_dir.is_dir() {
            fs::create_dir_all(&source_dir).map_err(SinkError::io(&target, "create the directory", &source_dir))?;
            sync_parent(&target, &source_dir)?;
        }
        let prefix = format!("{source}.run_id=");
        clean_leftovers(&target, quarantine_root, |name| {
            let run = name.strip_prefix(&prefix)?;
            check_name(NameKind::RunId, run).is_ok().then(|| source_dir.join(format!("run_id={run}")))
        })?;
        let staging = Staging::create(&target, quarantine_root, &format!("{prefix}{run_id}"))?;
        let schema = csv_schema.quarantine_schema();
        // Rows come in small batches from several stages, and the file is open before the first:
        // a dictionary for every column.
        let path = staging.path().join("part-00000.parquet");
        let file = ParquetFile::create(&target, path, schema.clone(), &ColumnEncodings::default())?;
        Ok(QuarantineWriter {
            file,
            staging,
            destination: source_dir.join(format!("run_id={run_id}")),
            target,
            source_file: source_file.to_owned(),
            csv_path: csv_path.to_owned(),
            csv_schema: csv_schema.clone(),
            schema,
            rows: 0,
        })
    }

    /// Adds ingestion's rejected rows, already in the quarantine layout.
    pub fn write_parse_errors(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        let mut problems = Vec::new();
        let columns = pick_columns(&self.schema, batch, None, &mut problems);
        if batch.num_columns() != self.schema.fields().len() {
            problems.push(format!(
                "the batch has {} columns, the quarantine {}",
                batch.num_columns(),
                self.schema.fields().len()
            ));
        }
        if !problems.is_empty() {
            return Err(SinkError::Schema { target: self.target.clone(), problems });
        }
        // The layout's columns 1 and 3: `line_number` and `reasons`.
        check_reasons(&self.target, &columns[3], &columns[1])?;
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|error| SinkError::data(&self.target, format!("parse errors: {error}")))?;
        self.write(&batch)
    }

    /// Adds the rows `stage` rejected: the stage's columns and `_line`, `_offset`, `_reasons`
    /// and `_message` (which may be missing: no message). The rows' raw text is read again from
    /// the CSV file at their `_offset`; a row without one keeps its values as text and no raw line.
    pub fn write_rejected(&mut self, stage: &str, batch: &RecordBatch) -> Result<(), SinkError> {
        let target = self.target.as_str();
        let mut problems = Vec::new();
        let mut column = |name: &str, data_type: DataType, required: bool| match batch.column_by_name(name) {
            Some(column) if *column.data_type() == data_type => Some(column.clone()),
            Some(column) => {
                problems.push(format!("column `{name}` is {}, expected {data_type}", column.data_type()));
                None
            }
            None => {
                if required {
                    problems.push(format!("column `{name}` is missing"));
                }
                None
            }
        };
        let line = column(LINE_COLUMN, DataType::Int64, true);
        let offset = column(OFFSET_COLUMN, DataType::Int64, false);
        let reasons = column(REASONS_COLUMN, DataType::Utf8, true);
        let message = column(MESSAGE_COLUMN, DataType::Utf8, false);
        let (Some(line), Some(reasons)) = (line, reasons) else {
            return Err(SinkError::Schema { target: format!("{target} (rows rejected by {stage})"), problems });
        };
        if !problems.is_empty() {
            return Err(SinkError::Schema { target: format!("{target} (rows rejected by {stage})"), problems });
        }
        let rows = batch.num_rows();
        let message = message.unwrap_or_else(|| arrow_array::new_null_array(&DataType::Utf8, rows));
        for start in (0..rows).step_by(RAW_CHUNK_ROWS) {
            let length = RAW_CHUNK_ROWS.min(rows - start);
            let chunk = Rejected {
                stage,
                batch: &batch.slice(start, length),
                line: line.slice(start, length),
                offset: offset.as_ref().map(|offset| offset.slice(start, length)),
                reasons: reasons.slice(start, length),
                message: message.slice(start, length),
            };
            let quarantined = self.quarantine(&chunk)?;
            self.write(&quarantined)?;
        }
        Ok(())
    }

    /// One chunk of rejected rows in the quarantine layout.
    fn quarantine(&self, rejected: &Rejected<'_>) -> Result<RecordBatch, SinkError> {
        let target = self.target.as_str();
        let rows = rejected.batch.num_rows();
        let offsets = rejected.offset.as_ref().map(|offset| offset.as_primitive::<Int64Type>());
        // The rows with an offset, and the offsets to read.
        let mut located = Vec::new();
        let mut wanted = Vec::new();
        for row in 0..rows {
            if let Some(offsets) = offsets
                && offsets.is_valid(row)
            {
                let offset = u64::try_from(offsets.value(row)).map_err(|_| {
                    SinkError::data(
                        target,
                        format!("a row rejected by {} has the negative offset {}", rejected.stage, offsets.value(row)),
                    )
                })?;
                located.push(row);
                wanted.push(offset);
            }
        }
        let records = read_raw_records(&self.csv_path, &self.csv_schema, &wanted)
            .map_err(|source| SinkError::RawRecords { target: target.to_owned(), source })?;
        let mut raw_line: Vec<Option<String>> = vec![None; rows];
        let columns = self.csv_schema.columns.len();
        let mut raw: Vec<Vec<Option<String>>> = vec![vec![None; rows]; columns];
        for (row, record) in located.into_iter().zip(records) {
            raw_line[row] = Some(record.raw_line);
            for (column, field) in record.fields.into_iter().enumerate() {
                raw[column][row] = field;
            }
        }
        // Rows not read from the file keep their values as text.
        if offsets.is_none_or(|offsets| offsets.null_count() > 0) {
            for (index, column) in self.csv_schema.columns.iter().enumerate() {
                let Some(values) = rejected.batch.column_by_name(&column.name) else { continue };
                for row in (0..rows).filter(|&row| raw_line[row].is_none()) {
                    let mut text = String::new();
                    if write_value(&mut text, values.as_ref(), row) && !text.is_empty() {
                        raw[index][row] = Some(text);
                    }
                }
            }
        }
        check_reasons(target, &rejected.reasons, &rejected.line)?;
        let lines = rejected.line.as_primitive::<Int64Type>();
        if lines.null_count() > 0 {
            return Err(SinkError::data(
                target,
                format!("a row rejected by {} has no `{LINE_COLUMN}`", rejected.stage),
            ));
        }
        let repeated = |text: &str| Arc::new(StringArray::new_repeated(text, rows)) as ArrayRef;
        let mut arrays: Vec<ArrayRef> = vec![
            repeated(&self.source_file),
            Arc::new(Int64Array::new(lines.values().clone(), None)),
            repeated(rejected.stage),
            rejected.reasons.clone(),
            rejected.message.clone(),
            Arc::new(StringArray::from(raw_line)),
        ];
        arrays.extend(raw.into_iter().map(|column| Arc::new(StringArray::from(column)) as ArrayRef));
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(SinkError::arrow(target))
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.file.write(&self.target, batch)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Finishes the file and publishes the run's directory, replacing an earlier one of the same
    /// run id; returns the rows quarantined.
    pub fn finish(self) -> Result<u64, SinkError> {
        let QuarantineWriter { file, staging, target, destination, rows, .. } = self;
        file.finish(&target)?;
        staging.publish(&destination)?;
        Ok(rows)
    }
}

/// Checks that every row has a reason: nothing is quarantined without one. `reasons` is a
/// `Utf8` array, `lines` an `Int64` one.
fn check_reasons(target: &str, reasons: &ArrayRef, lines: &ArrayRef) -> Result<(), SinkError> {
    let (Some(reasons), Some(lines)) = (reasons.as_string_opt::<i32>(), lines.as_primitive_opt::<Int64Type>()) else {
        return Err(SinkError::data(target, "the reasons or line numbers have the wrong type (this is a bug)"));
    };
    match (0..reasons.len()).find(|&row| reasons.is_null(row) || reasons.value(row).is_empty()) {
        None => Ok(()),
        Some(row) => {
            let at = if lines.is_valid(row) { format!(" (line {})", lines.value(row)) } else { String::new() };
            Err(SinkError::data(target, format!("a quarantined row has no reason{at}")))
        }
    }
}

/// A chunk of rows a stage rejected, with its metadata columns.
struct Rejected<'a> {
    stage: &'a str,
    batch: &'a RecordBatch,
    line: ArrayRef,
    offset: Option<ArrayRef>,
    reasons: ArrayRef,
    message: ArrayRef,
}

#[cfg(test)]
mod tests {
    use arrow_array::{Decimal128Array, Int64Array};

    use super::*;
    use crate::ingest::{Column, ColumnType, IngestBatch, IngestError, IngestOptions, ingest};
    use crate::sinks::test_util::{Scratch, pretty, read_parquet, schema_of, tree};

    fn orders_schema() -> CsvSchema {
        CsvSchema::new(vec![
            Column::new("order_id", ColumnType::Utf8),
            Column::new("customer_id", ColumnType::Utf8),
            Column::new("product_id", ColumnType::Utf8),
            Column::new("quantity", ColumnType::Int64),
            Column::new("unit_price", ColumnType::Decimal { precision: 10, scale: 2 }),
            Column::new("order_date", ColumnType::Date),
        ])
    }

    const ORDERS: &str = "order_id,customer_id,product_id,quantity,unit_price,order_date\r\n\
        o1,c1,p1,2,10.50,2024-03-05\r\n\
        \"o2\",\"c 2, \"\"quoted\"\"\ntwo lines\",p1,1,5.00,2024-03-06\r\n\
        o3,c3,p1,abc,1.00,2024-02-30\n\
        \n\
        o4, c4 ,p2,0,1.00,2024-03-07\n\
        o5,,p1,1,1.00,2024-03-08";

    /// Ingests `ORDERS` from a file in `scratch`; returns its path and its one batch.
    fn ingested(scratch: &Scratch) -> (PathBuf, IngestBatch) {
        let path = scratch.path().join("orders.csv");
        fs::write(&path, ORDERS).unwrap();
        let mut batches = Vec::new();
        ingest(&path, &orders_schema(), &IngestOptions::new("ingest_orders"), |batch| {
            batches.push(batch);
            Ok::<_, IngestError>(())
        })
        .unwrap();
        assert_eq!(batches.len(), 1);
        (path, batches.remove(0))
    }

    /// Rows `rows` of `valid` as a stage rejects them, with `reasons` and `messages`.
    fn rejected(
        valid: &RecordBatch,
        rows: std::ops::Range<usize>,
        reasons: &[&str],
        messages: &[Option<&str>],
    ) -> RecordBatch {
        let slice = valid.slice(rows.start, rows.len());
        let mut columns: Vec<(String, ArrayRef)> = slice
            .schema()
            .fields()
            .iter()
            .map(|field| field.name().clone())
            .zip(slice.columns().iter().cloned())
            .collect();
        columns.push((REASONS_COLUMN.to_owned(), Arc::new(StringArray::from(reasons.to_vec()))));
        columns.push((MESSAGE_COLUMN.to_owned(), Arc::new(StringArray::from(messages.to_vec()))));
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn create(root: &Path, run_id: &str, csv: &Path) -> QuarantineWriter {
        QuarantineWriter::create(root, "orders", run_id, "orders.csv", csv, &orders_schema()).unwrap()
    }

    /// The values of one text column of a Parquet file.
    fn texts(path: &Path, column: &str) -> Vec<Option<String>> {
        let batches = read_parquet(path);
        batches
            .iter()
            .flat_map(|batch| {
                let column = batch.column_by_name(column).unwrap().as_string::<i32>();
                column.iter().map(|value| value.map(str::to_owned)).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_stage_s_rejected_rows_keep_their_text_as_read() {
        let scratch = Scratch::new("quarantine");
        let (csv, batch) = ingested(&scratch);
        let root = scratch.path().join("quarantine");
        let mut writer = create(&root, "r1", &csv);
        writer.write_parse_errors(&batch.rejected).unwrap();
        // Validation rejects o4 and o5 (line 7 and 8); de-duplication o2, after trimming.
        let valid = &batch.valid;
        assert_eq!(valid.num_rows(), 4);
        let validation = rejected(valid, 2..4, &["in_range(quantity)", "not_null(customer_id)"], &[None, None]);
        writer.write_rejected("validate_orders", &validation).unwrap();
        writer
            .write_rejected(
                "cleanse_orders",
                &rejected(valid, 1..2, &["duplicate(order_id)"], &[Some("duplicate of line 2")]),
            )
            .unwrap();
        // A row with no offset keeps its values as text, without a raw line.
        let orphan = RecordBatch::try_from_iter([
            ("order_id", Arc::new(StringArray::from(vec!["o9"])) as ArrayRef),
            ("quantity", Arc::new(Int64Array::from(vec![3])) as ArrayRef),
            (
                "unit_price",
                Arc::new(Decimal128Array::from(vec![-50]).with_precision_and_scale(10, 2).unwrap()) as ArrayRef,
            ),
            ("_line", Arc::new(Int64Array::from(vec![40])) as ArrayRef),
            ("_offset", Arc::new(Int64Array::from(vec![None])) as ArrayRef),
            ("_reasons", Arc::new(StringArray::from(vec!["orphan"])) as ArrayRef),
        ])
        .unwrap();
        writer.write_rejected("enrich_orders", &orphan).unwrap();
        assert_eq!(writer.finish().unwrap(), 5);

        assert_eq!(tree(scratch.path()), ["orders.csv", "quarantine/orders/run_id=r1/part-00000.parquet"]);
        let file = root.join("orders/run_id=r1/part-00000.parquet");
        assert_eq!(
            schema_of(&file),
            [
                "source_file Utf8",
                "line_number Int64",
                "stage Utf8",
                "reasons Utf8",
                "message Utf8",
                "raw_line Utf8",
                "order_id_raw Utf8",
                "customer_id_raw Utf8",
                "product_id_raw Utf8",
                "quantity_raw Utf8",
                "unit_price_raw Utf8",
                "order_date_raw Utf8",
            ]
        );
        assert_eq!(
            texts(&file, "raw_line"),
            [
                Some("o3,c3,p1,abc,1.00,2024-02-30"),
                Some("o4, c4 ,p2,0,1.00,2024-03-07"),
                Some("o5,,p1,1,1.00,2024-03-08"),
                Some("\"o2\",\"c 2, \"\"quoted\"\"\ntwo lines\",p1,1,5.00,2024-03-06"),
                None,
            ]
            .map(|line| line.map(str::to_owned))
        );
        assert_eq!(
            texts(&file, "customer_id_raw"),
            [Some("c3"), Some(" c4 "), None, Some("c 2, \"quoted\"\ntwo lines"), None]
                .map(|field| field.map(str::to_owned))
        );
        let table = pretty(&file);
        let without_multiline_cells: Vec<&str> =
            table.lines().filter(|line| !line.starts_with("|             |")).collect();
        assert_eq!(
            without_multiline_cells.join("\n"),
            "+-------------+-------------+-----------------+-----------------------+--------------------------------------------------------------------------------------+---------------------------------+--------------+-----------------+----------------+--------------+----------------+----------------+\n\
             | source_file | line_number | stage           | reasons               | message                                                                              | raw_line                        | order_id_raw | customer_id_raw | product_id_raw | quantity_raw | unit_price_raw | order_date_raw |\n\
             +-------------+-------------+-----------------+-----------------------+--------------------------------------------------------------------------------------+---------------------------------+--------------+-----------------+----------------+--------------+----------------+----------------+\n\
             | orders.csv  | 5           | ingest_orders   | parse_error           | quantity: cannot parse 'abc' as int64; order_date: cannot parse '2024-02-30' as date | o3,c3,p1,abc,1.00,2024-02-30    | o3           | c3              | p1             | abc          | 1.00           | 2024-02-30     |\n\
             | orders.csv  | 7           | validate_orders | in_range(quantity)    |                                                                                      | o4, c4 ,p2,0,1.00,2024-03-07    | o4           |  c4             | p2             | 0            | 1.00           | 2024-03-07     |\n\
             | orders.csv  | 8           | validate_orders | not_null(customer_id) |                                                                                      | o5,,p1,1,1.00,2024-03-08        | o5           |                 | p1             | 1            | 1.00           | 2024-03-08     |\n\
             | orders.csv  | 3           | cleanse_orders  | duplicate(order_id)   | duplicate of line 2                                                                  | \"o2\",\"c 2, \"\"quoted\"\"           | o2           | c 2, \"quoted\"   | p1             | 1            | 5.00           | 2024-03-06     |\n\
             | orders.csv  | 40          | enrich_orders   | orphan                |                                                                                      |                                 | o9           |                 |                | 3            | -0.50          |                |\n\
             +-------------+-------------+-----------------+-----------------------+--------------------------------------------------------------------------------------+---------------------------------+--------------+-----------------+----------------+--------------+----------------+----------------+"
        );
    }

    #[test]
    fn a_rerun_replaces_its_run_and_keeps_the_others() {
        let scratch = Scratch::new("quarantine-rerun");
        let (csv, batch) = ingested(&scratch);
        let root = scratch.path().join("quarantine");
        for (run_id, rows) in [("r1", 4), ("r2", 1), ("r1", 1)] {
            let mut writer = create(&root, run_id, &csv);
            writer.write_parse_errors(&batch.rejected).unwrap();
            if rows == 4 {
                let validation = rejected(&batch.valid, 1..4, &["a", "b", "c"], &[None, None, None]);
                writer.write_rejected("validate_orders", &validation).unwrap();
            }
            assert_eq!(writer.finish().unwrap(), rows);
        }
        assert_eq!(tree(&root), ["orders/run_id=r1/part-00000.parquet", "orders/run_id=r2/part-00000.parquet"]);
        assert_eq!(read_parquet(&root.join("orders/run_id=r1/part-00000.parquet"))[0].num_rows(), 1);
        // A writer dropped unfinished leaves nothing; an empty run still has its file (and schema).
        let mut writer = create(&root, "r3", &csv);
        writer.write_parse_errors(&batch.rejected).unwrap();
        drop(writer);
        create(&root, "r4", &csv).finish().unwrap();
        assert_eq!(
            tree(&root),
            [
                "orders/run_id=r1/part-00000.parquet",
                "orders/run_id=r2/part-00000.parquet",
                "orders/run_id=r4/part-00000.parquet"
            ]
        );
    }

    #[test]
    fn rows_without_reasons_or_metadata_are_refused() {
        let scratch = Scratch::new("quarantine-refused");
        let (csv, batch) = ingested(&scratch);
        let mut writer = create(&scratch.path().join("q"), "r1", &csv);
        let error = writer
            .write_rejected("validate_orders", &rejected(&batch.valid, 0..2, &["ok", ""], &[None, None]))
            .unwrap_err();
        assert_eq!(error.to_string(), "quarantine orders/run_id=r1: a quarantined row has no reason (line 3)");
        let no_reason = rejected(&batch.valid, 0..2, &["ok", "ok"], &[None, None]);
        let mut columns: Vec<(String, ArrayRef)> = no_reason
            .schema()
            .fields()
            .iter()
            .map(|field| field.name().clone())
            .zip(no_reason.columns().iter().cloned())
            .collect();
        columns.iter_mut().find(|(name, _)| name == REASONS_COLUMN).unwrap().1 =
            Arc::new(StringArray::from(vec![None, Some("ok")]));
        let error =
            writer.write_rejected("validate_orders", &RecordBatch::try_from_iter(columns).unwrap()).unwrap_err();
        assert_eq!(error.to_string(), "quarantine orders/run_id=r1: a quarantined row has no reason (line 2)");
        let error = writer.write_rejected("validate_orders", &batch.valid).unwrap_err();
        assert_eq!(
            error.to_string(),
            "quarantine orders/run_id=r1 (rows rejected by validate_orders): column `_reasons` is missing"
        );
        let error = writer.write_parse_errors(&batch.valid).unwrap_err();
        assert!(
            error.to_string().starts_with("quarantine orders/run_id=r1: column `source_file` is missing; "),
            "{error}"
        );
        let error = QuarantineWriter::create(scratch.path(), "orders", "../x", "orders.csv", &csv, &orders_schema())
            .unwrap_err();
        assert!(matches!(error, SinkError::Name(_)), "{error}");
    }
}
