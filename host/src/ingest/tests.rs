//! End-to-end tests of ingestion: files on disk in, batches compared as pretty-printed tables.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use arrow_cast::pretty::pretty_format_batches;

use super::*;

/// A directory of its own under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("host-ingest-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

const ORDERS_HEADER: &str = "order_id,customer_id,product_id,quantity,unit_price,order_date\n";

/// Everything one ingestion produced.
struct Ingested {
    batches: Vec<IngestBatch>,
    stats: IngestStats,
    bytes: Vec<u8>,
}

impl Ingested {
    fn valid(&self) -> String {
        table(self.batches.iter().map(|batch| &batch.valid))
    }

    /// The rejected rows without the columns every row shares (`source_file`, `stage`, `reasons`).
    fn rejected(&self) -> String {
        let projected: Vec<RecordBatch> = self
            .batches
            .iter()
            .map(|batch| {
                let schema = batch.rejected.schema();
                let keep: Vec<usize> = (0..schema.fields().len())
                    .filter(|&i| !["source_file", "stage", "reasons"].contains(&schema.field(i).name().as_str()))
                    .collect();
                batch.rejected.project(&keep).unwrap()
            })
            .collect();
        table(&projected)
    }

    fn messages(&self) -> Vec<String> {
        let mut messages = Vec::new();
        for batch in &self.batches {
            let column = batch.rejected.column_by_name("message").unwrap().as_string::<i32>();
            messages.extend(column.iter().map(|message| message.unwrap().to_owned()));
        }
        messages
    }
}

fn table<'a>(batches: impl IntoIterator<Item = &'a RecordBatch>) -> String {
    let batches: Vec<RecordBatch> = batches.into_iter().cloned().collect();
    pretty_format_batches(&batches).unwrap().to_string()
}

fn ingest_bytes_with(contents: &[u8], schema: &CsvSchema, options: &IngestOptions) -> Ingested {
    let scratch = Scratch::new();
    let path = scratch.file("orders.csv", contents);
    let mut batches = Vec::new();
    let stats = ingest(&path, schema, options, |batch| {
        batches.push(batch);
        Ok::<_, IngestError>(())
    })
    .unwrap();
    assert_eq!(stats.rows_read, stats.rows_valid + stats.rows_rejected);
    assert_eq!(stats.bytes, contents.len() as u64);
    let valid: usize = batches.iter().map(|batch| batch.valid.num_rows()).sum();
    let rejected: usize = batches.iter().map(|batch| batch.rejected.num_rows()).sum();
    assert_eq!((valid as u64, rejected as u64), (stats.rows_valid, stats.rows_rejected));
    Ingested { batches, stats, bytes: contents.to_vec() }
}

fn ingest_orders(body: &str) -> Ingested {
    ingest_bytes_with(
        format!("{ORDERS_HEADER}{body}").as_bytes(),
        &orders_schema(),
        &IngestOptions::new("ingest_orders"),
    )
}

fn ingest_error(contents: &[u8], schema: &CsvSchema) -> (PathBuf, String) {
    let scratch = Scratch::new();
    let path = scratch.file("orders.csv", contents);
    let error = IngestReader::open(&path, schema, &IngestOptions::default()).unwrap_err();
    (path, error.to_string())
}

#[test]
fn reads_typed_columns_with_line_and_offset() {
    let ingested = ingest_orders("O1,C1,P1,2,19.99,2024-01-15\nO2,C2,P2,-3,0.5,2023-12-31\n");
    assert_eq!(
        ingested.valid(),
        "\
+----------+-------------+------------+----------+------------+------------+-------+---------+
| order_id | customer_id | product_id | quantity | unit_price | order_date | _line | _offset |
+----------+-------------+------------+----------+------------+------------+-------+---------+
| O1       | C1          | P1         | 2        | 19.99      | 2024-01-15 | 2     | 63      |
| O2       | C2          | P2         | -3       | 0.50       | 2023-12-31 | 3     | 91      |
+----------+-------------+------------+----------+------------+------------+-------+---------+"
    );
    assert_eq!(ingested.stats, IngestStats { rows_read: 2, rows_valid: 2, rows_rejected: 0, bytes: 118 });
    let batch = &ingested.batches[0];
    assert_eq!(batch.valid.schema(), orders_schema().arrow_schema());
    assert_eq!(batch.rejected.schema(), orders_schema().quarantine_schema());
    assert_eq!(batch.rejected.num_rows(), 0);
}

#[test]
fn crlf_reads_like_lf() {
    let lf = ingest_orders("O1,C1,P1,2,19.99,2024-01-15\nO2,,P2,,,\n");
    let crlf = ingest_bytes_with(
        format!("{ORDERS_HEADER}O1,C1,P1,2,19.99,2024-01-15\nO2,,P2,,,\n").replace('\n', "\r\n").as_bytes(),
        &orders_schema(),
        &IngestOptions::new("ingest_orders"),
    );
    let declared = |ingested: &Ingested| ingested.batches[0].valid.project(&[0, 1, 2, 3, 4, 5, 6]).unwrap();
    assert_eq!(table([&declared(&lf)]), table([&declared(&crlf)]));
    assert_eq!(
        table([&declared(&crlf)]),
        "\
+----------+-------------+------------+----------+------------+------------+-------+
| order_id | customer_id | product_id | quantity | unit_price | order_date | _line |
+----------+-------------+------------+----------+------------+------------+-------+
| O1       | C1          | P1         | 2        | 19.99      | 2024-01-15 | 2     |
| O2       |             | P2         |          |            |            | 3     |
+----------+-------------+------------+----------+------------+------------+-------+"
    );
    assert_offsets_point_at_records(&crlf);
}

#[test]
fn bom_and_spaces_around_header_names_are_ignored() {
    let contents =
        "\u{feff} order_id , customer_id,product_id,quantity,unit_price,\"order_date\"\r\nO1,C1,P1,1,1,2024-01-01\r\n";
    let ingested = ingest_bytes_with(contents.as_bytes(), &orders_schema(), &IngestOptions::default());
    assert_eq!(ingested.stats.rows_valid, 1);
    let offset = ingested.batches[0].valid.column_by_name(OFFSET_COLUMN).unwrap().as_primitive::<Int64Type>().value(0);
    assert_eq!(offset as usize, contents.find("O1").unwrap());
    assert_offsets_point_at_records(&ingested);
}

#[test]
fn quoted_commas_quotes_and_line_breaks() {
    let ingested = ingest_orders(concat!(
        "\"O1\",\"Smith, Jane\",\"say \"\"hi\"\"\",1,1.00,2024-01-01\n",
        "O2,\"two\nlines\",\"three\r\nlines\nhere\",2,2.00,2024-01-02\n",
        "O3,C3,P3,3,3.00,2024-01-03\n",
        "\"O4\",\"\",\"\"\"\",\"4\",\"4.00\",\"2024-01-04\"\n",
    ));
    assert_eq!(
        ingested.valid(),
        "\
+----------+-------------+------------+----------+------------+------------+-------+---------+
| order_id | customer_id | product_id | quantity | unit_price | order_date | _line | _offset |
+----------+-------------+------------+----------+------------+------------+-------+---------+
| O1       | Smith, Jane | say \"hi\"   | 1        | 1.00       | 2024-01-01 | 2     | 63      |
| O2       | two         | three\r     | 2        | 2.00       | 2024-01-02 | 3     | 113     |
|          | lines       | lines      |          |            |            |       |         |
|          |             | here       |          |            |            |       |         |
| O3       | C3          | P3         | 3        | 3.00       | 2024-01-03 | 7     | 166     |
| O4       |             | \"          | 4        | 4.00       | 2024-01-04 | 8     | 193     |
+----------+-------------+------------+----------+------------+------------+-------+---------+"
    );
    assert_offsets_point_at_records(&ingested);
    // The text keeps the CRLF inside quotes as is.
    let product = ingested.batches[0].valid.column(2).as_string::<i32>().value(1).to_owned();
    assert_eq!(product, "three\r\nlines\nhere");
}

#[test]
fn blank_lines_are_skipped_but_counted() {
    let ingested = ingest_orders("\nO1,C1,P1,1,1.00,2024-01-01\n\r\n\nO2,C2,P2,2,2.00,2024-01-02\n\n");
    let lines = ingested.batches[0].valid.column_by_name(LINE_COLUMN).unwrap().as_primitive::<Int64Type>().clone();
    assert_eq!(lines.values().to_vec(), [3, 6]);
    assert_eq!(ingested.stats.rows_read, 2);
    assert_offsets_point_at_records(&ingested);
}

#[test]
fn empty_and_quoted_empty_fields_are_null() {
    let ingested = ingest_orders(",,,,,\n\"\",\"\",\"\",\"\",\"\",\"\"\n");
    assert_eq!(ingested.stats.rows_valid, 2);
    for column in ingested.batches[0].valid.columns().iter().take(6) {
        assert_eq!(column.null_count(), 2);
    }
}

#[test]
fn text_is_kept_untrimmed_but_numbers_and_dates_are_strict() {
    let ingested = ingest_orders(
        " O1 ,\tC1,\"  P1\",1,1.00,2024-01-01\nO2,C2,P2, 1,1.00 ,2024-01-01\nO3,C3,P3,1,1.00,\" 2024-01-01\"\n",
    );
    let order_ids = ingested.batches[0].valid.column(0).as_string::<i32>().clone();
    let customer_ids = ingested.batches[0].valid.column(1).as_string::<i32>().clone();
    let product_ids = ingested.batches[0].valid.column(2).as_string::<i32>().clone();
    assert_eq!((order_ids.value(0), customer_ids.value(0), product_ids.value(0)), (" O1 ", "\tC1", "  P1"));
    assert_eq!(
        ingested.messages(),
        [
            "quantity: cannot parse ' 1' as int64; unit_price: cannot parse '1.00 ' as decimal(10,2)",
            "order_date: cannot parse ' 2024-01-01' as date",
        ]
    );
}

#[test]
fn parse_errors_name_every_bad_column_and_keep_the_raw_record() {
    let ingested = ingest_orders(concat!(
        "O1,C1,P1,abc,19.99,2024-01-15\n",
        "O2,C2,P2,2,12.3x,2024-01-15\n",
        "O3,C3,P3,3,1.00,2023-02-30\n",
        "O4,,P4,abc,1.234,2023-02-30\n",
        "O5,C5,P5,5,5.00,2024-01-05\n",
    ));
    assert_eq!(
        ingested.rejected(),
        "\
+-------------+-----------------------------------------------------------------------------------------------------------------------------------------+-------------------------------+--------------+-----------------+----------------+--------------+----------------+----------------+
| line_number | message                                                                                                                                 | raw_line                      | order_id_raw | customer_id_raw | product_id_raw | quantity_raw | unit_price_raw | order_date_raw |
+-------------+-----------------------------------------------------------------------------------------------------------------------------------------+-------------------------------+--------------+-----------------+----------------+--------------+----------------+----------------+
| 2           | quantity: cannot parse 'abc' as int64                                                                                                   | O1,C1,P1,abc,19.99,2024-01-15 | O1           | C1              | P1             | abc          | 19.99          | 2024-01-15     |
| 3           | unit_price: cannot parse '12.3x' as decimal(10,2)                                                                                       | O2,C2,P2,2,12.3x,2024-01-15   | O2           | C2              | P2             | 2            | 12.3x          | 2024-01-15     |
| 4           | order_date: cannot parse '2023-02-30' as date                                                                                           | O3,C3,P3,3,1.00,2023-02-30    | O3           | C3              | P3             | 3            | 1.00           | 2023-02-30     |
| 5           | quantity: cannot parse 'abc' as int64; unit_price: cannot parse '1.234' as decimal(10,2); order_date: cannot parse '2023-02-30' as date | O4,,P4,abc,1.234,2023-02-30   | O4           |                 | P4             | abc          | 1.234          | 2023-02-30     |
+-------------+-----------------------------------------------------------------------------------------------------------------------------------------+-------------------------------+--------------+-----------------+----------------+--------------+----------------+----------------+"
    );
    let rejected = &ingested.batches[0].rejected;
    for (name, value) in [("source_file", "orders.csv"), ("stage", "ingest_orders"), ("reasons", "parse_error")] {
        let column = rejected.column_by_name(name).unwrap().as_string::<i32>();
        assert!(column.iter().all(|text| text == Some(value)), "{name}");
    }
    assert_eq!(ingested.stats, IngestStats { rows_read: 5, rows_valid: 1, rows_rejected: 4, bytes: 203 });
    // The valid rows don't see the rejected ones.
    assert_eq!(ingested.batches[0].valid.column(0).as_string::<i32>().value(0), "O5");
}

#[test]
fn wrong_field_count_both_ways() {
    let ingested = ingest_orders("O1,C1,P1,1,1.00\nO2,C2,P2,2,2.00,2024-01-02,extra\n,\n");
    assert_eq!(
        ingested.rejected(),
        "\
+-------------+----------------------------------------+----------------------------------+--------------+-----------------+----------------+--------------+----------------+----------------+
| line_number | message                                | raw_line                         | order_id_raw | customer_id_raw | product_id_raw | quantity_raw | unit_price_raw | order_date_raw |
+-------------+----------------------------------------+----------------------------------+--------------+-----------------+----------------+--------------+----------------+----------------+
| 2           | wrong field count: expected 6, found 5 | O1,C1,P1,1,1.00                  | O1           | C1              | P1             | 1            | 1.00           |                |
| 3           | wrong field count: expected 6, found 7 | O2,C2,P2,2,2.00,2024-01-02,extra | O2           | C2              | P2             | 2            | 2.00           | 2024-01-02     |
| 4           | wrong field count: expected 6, found 2 | ,                                |              |                 |                |              |                |                |
+-------------+----------------------------------------+----------------------------------+--------------+-----------------+----------------+--------------+----------------+----------------+"
    );
}

#[test]
fn malformed_quoting_is_a_parse_error() {
    let ingested = ingest_orders(concat!(
        "O1,C\"1,P1,1,1.00,2024-01-01\n",
        "O2,\"C2\"x,P2,2,2.00,2024-01-02\n",
        "O3,C3,P3,3,3.00,2024-01-03\n",
        "O4,\"C4,P4,4,4.00,2024-01-04\n",
    ));
    assert_eq!(
        ingested.rejected(),
        "\
+-------------+-----------------------+-------------------------------+--------------+--------------------------+----------------+--------------+----------------+----------------+
| line_number | message               | raw_line                      | order_id_raw | customer_id_raw          | product_id_raw | quantity_raw | unit_price_raw | order_date_raw |
+-------------+-----------------------+-------------------------------+--------------+--------------------------+----------------+--------------+----------------+----------------+
| 2           | malformed CSV quoting | O1,C\"1,P1,1,1.00,2024-01-01   | O1           | C\"1                      | P1             | 1            | 1.00           | 2024-01-01     |
| 3           | malformed CSV quoting | O2,\"C2\"x,P2,2,2.00,2024-01-02 | O2           | \"C2\"x                    | P2             | 2            | 2.00           | 2024-01-02     |
| 5           | malformed CSV quoting | O4,\"C4,P4,4,4.00,2024-01-04   | O4           | \"C4,P4,4,4.00,2024-01-04 |                |              |                |                |
|             |                       |                               |              |                          |                |              |                |                |
+-------------+-----------------------+-------------------------------+--------------+--------------------------+----------------+--------------+----------------+----------------+"
    );
    assert_eq!(ingested.stats, IngestStats { rows_read: 4, rows_valid: 1, rows_rejected: 3, bytes: 176 });
}

#[test]
fn int64_bounds() {
    let ingested = ingest_orders(concat!(
        "O1,C,P,9223372036854775807,1,2024-01-01\n",
        "O2,C,P,-9223372036854775808,1,2024-01-01\n",
        "O3,C,P,9223372036854775808,1,2024-01-01\n",
        "O4,C,P,+7,1,2024-01-01\n",
        "O5,C,P,1.0,1,2024-01-01\n",
    ));
    let quantities = ingested.batches[0].valid.column(3).as_primitive::<Int64Type>().clone();
    assert_eq!(quantities.values().to_vec(), [i64::MAX, i64::MIN, 7]);
    assert_eq!(
        ingested.messages(),
        ["quantity: cannot parse '9223372036854775808' as int64", "quantity: cannot parse '1.0' as int64"]
    );
}

#[test]
fn decimal_bounds_and_scale() {
    let ingested = ingest_orders(concat!(
        "O1,C,P,1,99999999.99,2024-01-01\n",
        "O2,C,P,1,-0.01,2024-01-01\n",
        "O3,C,P,1,1.2,2024-01-01\n",
        "O4,C,P,1,100000000.00,2024-01-01\n",
        "O5,C,P,1,1.234,2024-01-01\n",
        "O6,C,P,1,.5,2024-01-01\n",
        "O7,C,P,1,5.,2024-01-01\n",
    ));
    let prices = ingested.batches[0].valid.column(4).as_primitive::<arrow_array::types::Decimal128Type>().clone();
    assert_eq!(prices.values().to_vec(), [9_999_999_999, -1, 120]);
    assert_eq!(
        ingested.messages(),
        [
            "unit_price: cannot parse '100000000.00' as decimal(10,2)",
            "unit_price: cannot parse '1.234' as decimal(10,2)",
            "unit_price: cannot parse '.5' as decimal(10,2)",
            "unit_price: cannot parse '5.' as decimal(10,2)",
        ]
    );
}

#[test]
fn dates_are_real_calendar_dates() {
    let ingested = ingest_orders(concat!(
        "O1,C,P,1,1,2024-02-29\n",
        "O2,C,P,1,1,2023-02-29\n",
        "O3,C,P,1,1,2023-1-01\n",
        "O4,C,P,1,1,2000-02-29\n",
        "O5,C,P,1,1,1900-02-29\n",
    ));
    let project = ingested.batches[0].valid.project(&[0, 5]).unwrap();
    assert_eq!(
        table([&project]),
        "\
+----------+------------+
| order_id | order_date |
+----------+------------+
| O1       | 2024-02-29 |
| O4       | 2000-02-29 |
+----------+------------+"
    );
    assert_eq!(
        ingested.messages(),
        [
            "order_date: cannot parse '2023-02-29' as date",
            "order_date: cannot parse '2023-1-01' as date",
            "order_date: cannot parse '1900-02-29' as date",
        ]
    );
}

#[test]
fn invalid_utf8_is_quarantined_with_its_text_kept_lossily() {
    let mut contents = ORDERS_HEADER.as_bytes().to_vec();
    contents.extend_from_slice(
        b"O1,Caf\xe9,P1,1,1.00,2024-01-01\nO2,C2,P2,\xff,1.00,2024-01-01\nO3,C3,P3,3,3.00,2024-01-03\n",
    );
    let ingested = ingest_bytes_with(&contents, &orders_schema(), &IngestOptions::new("ingest_orders"));
    assert_eq!(
        ingested.messages(),
        ["customer_id: invalid UTF-8 in 'Caf\u{fffd}'", "quantity: invalid UTF-8 in '\u{fffd}'"]
    );
    let raw_line = ingested.batches[0].rejected.column_by_name("raw_line").unwrap().as_string::<i32>().clone();
    assert_eq!(raw_line.value(0), "O1,Caf\u{fffd},P1,1,1.00,2024-01-01");
    let customer_raw =
        ingested.batches[0].rejected.column_by_name("customer_id_raw").unwrap().as_string::<i32>().clone();
    assert_eq!(customer_raw.value(0), "Caf\u{fffd}");
    assert_eq!(ingested.stats.rows_valid, 1);
}

#[test]
fn batches_split_at_batch_rows_with_continuous_lines_and_offsets() {
    let mut body = String::new();
    for i in 0..10 {
        match i {
            3 => body.push_str("O3,\"multi\nline\",P,1,1.00,2024-01-01\n"),
            5 => body.push_str("O5,C,P,bad,1.00,2024-01-01\n\n"),
            _ => body.push_str(&format!("O{i},C,P,{i},1.00,2024-01-01\r\n")),
        }
    }
    let contents = format!("{ORDERS_HEADER}{body}");
    let options = IngestOptions { batch_rows: 3, ..IngestOptions::new("ingest_orders") };
    let ingested = ingest_bytes_with(contents.as_bytes(), &orders_schema(), &options);
    let sizes: Vec<(usize, usize)> =
        ingested.batches.iter().map(|batch| (batch.valid.num_rows(), batch.rejected.num_rows())).collect();
    assert_eq!(sizes, [(3, 0), (2, 1), (3, 0), (1, 0)]);
    let lines: Vec<i64> = ingested
        .batches
        .iter()
        .flat_map(|batch| {
            batch.valid.column_by_name(LINE_COLUMN).unwrap().as_primitive::<Int64Type>().values().to_vec()
        })
        .collect();
    // O3 spans lines 5-6; O5 (rejected, line 8) is followed by a blank line 9.
    assert_eq!(lines, [2, 3, 4, 5, 7, 10, 11, 12, 13]);
    let rejected_line = ingested.batches[1].rejected.column_by_name("line_number").unwrap().as_primitive::<Int64Type>();
    assert_eq!(rejected_line.values().to_vec(), [8]);
    assert_offsets_point_at_records(&ingested);
}

#[test]
fn batches_end_once_their_records_reach_batch_bytes() {
    // Records of 25 bytes, one of 225 (a wide row), one rejected.
    let short = |i: usize| format!("O{i},C,P,1,1.00,2024-01-01\n");
    let wide = format!("O9,C{},P,1,1.00,2024-01-01\n", "x".repeat(199));
    let mut body = String::new();
    for i in 0..4 {
        body.push_str(&short(i));
    }
    body.push_str(&wide);
    body.push_str("O5,C,P,bad,1.00,2024-01-01\n");
    for i in 6..8 {
        body.push_str(&short(i));
    }
    assert_eq!(short(0).len(), 25);
    let contents = format!("{ORDERS_HEADER}{body}");
    let options = IngestOptions { batch_bytes: 50, ..IngestOptions::new("ingest_orders") };
    let ingested = ingest_bytes_with(contents.as_bytes(), &orders_schema(), &options);
    let sizes: Vec<(usize, usize)> =
        ingested.batches.iter().map(|batch| (batch.valid.num_rows(), batch.rejected.num_rows())).collect();
    // Two short records fill a batch; the wide one fills one alone; the rows limit still holds.
    assert_eq!(sizes, [(2, 0), (2, 0), (1, 0), (1, 1), (1, 0)]);
    assert_eq!(ingested.stats.rows_read, 8);
    assert_offsets_point_at_records(&ingested);

    let options = IngestOptions { batch_bytes: 50, batch_rows: 1, ..IngestOptions::new("ingest_orders") };
    let ingested = ingest_bytes_with(contents.as_bytes(), &orders_schema(), &options);
    assert_eq!(ingested.batches.len(), 8);
}

#[test]
fn one_batch_when_the_file_is_smaller_than_batch_rows_and_none_when_empty() {
    let ingested = ingest_orders("O1,C,P,1,1,2024-01-01\n");
    assert_eq!(ingested.batches.len(), 1);
    let ingested = ingest_orders("\n\n");
    assert_eq!(ingested.batches.len(), 0);
    assert_eq!(ingested.stats, IngestStats { rows_read: 0, rows_valid: 0, rows_rejected: 0, bytes: 65 });
}

#[test]
fn header_mismatch_fails_naming_the_file_and_the_columns() {
    let (path, message) = ingest_error(b"order_id,customer,product_id\nO1,C1,P1\n", &orders_schema());
    assert_eq!(
        message,
        format!(
            "{}: the header does not match the declared columns: expected [\"order_id\", \"customer_id\", \
             \"product_id\", \"quantity\", \"unit_price\", \"order_date\"], found [\"order_id\", \"customer\", \
             \"product_id\"]",
            path.display()
        )
    );
    // Names compare exactly once trimmed: case matters.
    let schema = CsvSchema::new(vec![Column::new("id", ColumnType::Utf8)]);
    let (path, message) = ingest_error(b"ID\n1\n", &schema);
    assert_eq!(
        message,
        format!(
            "{}: the header does not match the declared columns: expected [\"id\"], found [\"ID\"]",
            path.display()
        )
    );
}

#[test]
fn missing_empty_and_unreadable_files_fail_naming_the_path() {
    let scratch = Scratch::new();
    let missing = scratch.0.join("missing.csv");
    let error = IngestReader::open(&missing, &orders_schema(), &IngestOptions::default()).unwrap_err();
    assert!(matches!(error, IngestError::Io { .. }));
    assert!(error.to_string().starts_with(&format!("cannot read {}: ", missing.display())), "{error}");
    // A directory is no file.
    let error = IngestReader::open(&scratch.0, &orders_schema(), &IngestOptions::default()).unwrap_err();
    assert!(error.to_string().starts_with(&format!("cannot read {}: ", scratch.0.display())), "{error}");

    for empty in [&b""[..], b"\xef\xbb\xbf", b"\n\r\n\n"] {
        let (path, message) = ingest_error(empty, &orders_schema());
        assert_eq!(message, format!("{} is empty: expected a header row", path.display()));
    }
}

#[test]
fn a_record_over_the_size_limit_fails_naming_its_line() {
    let scratch = Scratch::new();
    let path = scratch.file("orders.csv", format!("{ORDERS_HEADER}O1,\"unterminated{}\n", "x".repeat(5000)));
    let options = IngestOptions { max_record_bytes: 1024, ..IngestOptions::default() };
    let results: Vec<_> = IngestReader::open(&path, &orders_schema(), &options).unwrap().collect();
    assert_eq!(results.len(), 1);
    let error = results.into_iter().next().unwrap().unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}: the record starting at line 2 is longer than 1024 bytes (an unterminated quote?)", path.display())
    );
}

#[test]
fn an_invalid_schema_fails_before_reading() {
    let schema = CsvSchema::new(vec![Column::new("a", ColumnType::Utf8), Column::new("a", ColumnType::Utf8)]);
    let (path, message) = ingest_error(b"a,a\n", &schema);
    assert_eq!(message, format!("cannot ingest {}: invalid schema: column `a` is declared twice", path.display()));
}

#[test]
fn a_sink_error_stops_ingestion_and_comes_back_as_is() {
    #[derive(Debug)]
    enum Failure {
        Ingest,
        Full,
    }
    impl From<IngestError> for Failure {
        fn from(_: IngestError) -> Self {
            Failure::Ingest
        }
    }
    let scratch = Scratch::new();
    let path = scratch.file("orders.csv", format!("{ORDERS_HEADER}O1,C,P,1,1,2024-01-01\nO2,C,P,1,1,2024-01-01\n"));
    let options = IngestOptions { batch_rows: 1, ..IngestOptions::default() };
    let mut calls = 0;
    let result = ingest(&path, &orders_schema(), &options, |_| {
        calls += 1;
        Err(Failure::Full)
    });
    assert!(matches!(result, Err(Failure::Full)));
    assert_eq!(calls, 1);
    let missing = ingest(&scratch.0.join("missing.csv"), &orders_schema(), &options, |_| Ok(()));
    assert!(matches!(missing, Err(Failure::Ingest)));
}

/// The generated sample data reads through: every row is accounted for, and the parse defects
/// (and nothing else) are rejected.
#[test]
fn sample_data_is_conserved() {
    use sample_data::{ORDERS_FILE, SampleSpec, generate};

    let scratch = Scratch::new();
    let summary = generate(&SampleSpec { orders: 20_000, seed: 7 }, &scratch.0).unwrap();
    let orders = summary.file(ORDERS_FILE).unwrap();
    let defect = |kind: &str| orders.defects.get(kind).unwrap();
    let path = scratch.0.join(ORDERS_FILE);
    let options = IngestOptions { batch_rows: 4096, ..IngestOptions::new("ingest_orders") };
    let mut rejected = 0;
    let stats = ingest(&path, &orders_schema(), &options, |batch| {
        rejected += batch.rejected.num_rows() as u64;
        Ok::<_, IngestError>(())
    })
    .unwrap();
    assert_eq!(stats.rows_read, orders.rows);
    assert_eq!(stats.rows_valid + stats.rows_rejected, stats.rows_read);
    assert_eq!(rejected, stats.rows_rejected);
    assert_eq!(stats.bytes, std::fs::metadata(&path).unwrap().len());
    let parse_defects = ["invalid_date", "unparseable_number", "wrong_field_count"].map(defect);
    assert!(stats.rows_rejected >= *parse_defects.iter().max().unwrap(), "{stats:?}");
    assert!(stats.rows_rejected <= parse_defects.iter().sum(), "{stats:?}");
}

/// Every `_offset` of `ingested` points at its record in the file: the bytes there start with
/// the record's first field, and are preceded by the end of a line.
fn assert_offsets_point_at_records(ingested: &Ingested) {
    for batch in &ingested.batches {
        let offsets = batch.valid.column_by_name(OFFSET_COLUMN).unwrap().as_primitive::<Int64Type>();
        let first = batch.valid.column(0).as_string::<i32>();
        for row in 0..batch.valid.num_rows() {
            let offset = offsets.value(row) as usize;
            assert_eq!(ingested.bytes[offset - 1], b'\n', "row {row} at {offset}");
            let rest = &ingested.bytes[offset..];
            let expected = if first.is_null(row) { "" } else { first.value(row) };
            let quoted = format!("\"{expected}\"");
            assert!(
                rest.starts_with(expected.as_bytes()) || rest.starts_with(quoted.as_bytes()),
                "row {row} at {offset}: {:?}",
                String::from_utf8_lossy(&rest[..rest.len().min(40)])
            );
        }
    }
}

/// Random byte soups of CSV's special characters, read with tiny and odd buffer sizes: nothing
/// panics, every record sits at its `_offset` on its `_line`, and every record comes out once,
/// valid or rejected.
#[test]
fn random_input_never_panics_and_every_record_is_where_it_says() {
    const ALPHABET: &[u8] = b"a1-.,,\"\"\n\n\r \xff\xc3\xa9";
    let schema = CsvSchema::new(vec![
        Column::new("a", ColumnType::Utf8),
        Column::new("b", ColumnType::Int64),
        Column::new("c", ColumnType::Decimal { precision: 4, scale: 1 }),
    ]);
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move |below: u64| {
        // xorshift64*: deterministic, good enough to shuffle bytes.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % below
    };
    for case in 0..3000 {
        let len = next(40) as usize;
        let input: Vec<u8> = (0..len).map(|_| ALPHABET[next(ALPHABET.len() as u64) as usize]).collect();
        let mut records = RecordReader::new(&input[..], 1 + case % 7, 1 << 20);
        let mut batch = BatchBuilder::new(&schema, "fuzz.csv", "ingest_fuzz", 4);
        let (mut read, mut last_offset) = (0, None);
        while let Some(record) = records.next_record().unwrap() {
            let offset = record.offset as usize;
            assert_eq!(&input[offset..offset + record.raw.len()], record.raw, "{input:?}");
            let lines_before = input[..offset].iter().filter(|&&byte| byte == b'\n').count() as u64;
            assert_eq!(record.line, lines_before + 1, "{input:?}");
            assert!(last_offset < Some(offset), "{input:?}");
            last_offset = Some(offset);
            batch.push(&record);
            read += 1;
        }
        assert_eq!(records.consumed(), input.len() as u64);
        let out = batch.flush().unwrap();
        assert_eq!(out.valid.num_rows() + out.rejected.num_rows(), read, "{input:?}");
    }
}
