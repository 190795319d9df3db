//! The warehouse's tests: tables written, read back with the Parquet arrow reader and compared
//! as pretty-printed tables; partition overwrite, upserts, idempotence, aborts and crashes.

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, StringArray};
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::*;
use crate::sinks::files::CREATED_BY;
use crate::sinks::publish::{CRASH_AT_ENV, CRASH_EXIT_CODE};
use crate::sinks::test_util::{Scratch, file_bytes, pretty, read_parquet, schema_of, tree};

/// Days since 1970-01-01 of `date` (`YYYY-MM-DD`).
fn days(date: &str) -> i32 {
    let parts: Vec<u32> = date.split('-').map(|part| part.parse().unwrap()).collect();
    etl_format::dates::days_from_civil(i64::from(parts[0]), parts[1], parts[2]) as i32
}

/// The tables of the e-commerce pipeline, as `config/ecommerce.yaml` declares them.
fn typed(columns: &[(&str, DataType)]) -> Vec<StoredColumn> {
    columns.iter().map(|(name, data_type)| StoredColumn::typed(*name, data_type.clone())).collect()
}

fn sales_spec() -> TableSpec {
    let columns = typed(&[
        ("order_id", DataType::Utf8),
        ("customer_id", DataType::Utf8),
        ("product_id", DataType::Utf8),
        ("quantity", DataType::Int64),
        ("unit_price", DataType::Decimal128(10, 2)),
        ("order_date", DataType::Date32),
        ("total_amount", DataType::Decimal128(18, 2)),
        ("order_date_day", DataType::Int32),
        ("product_name", DataType::Utf8),
        ("category", DataType::Utf8),
        ("name", DataType::Utf8),
        ("email", DataType::Utf8),
        ("region", DataType::Utf8),
    ]);
    TableSpec::partitioned("sales", &["order_date_year", "order_date_month"]).unwrap().with_columns(columns).unwrap()
}

fn customers_spec() -> TableSpec {
    let columns = typed(&[
        ("customer_id", DataType::Utf8),
        ("name", DataType::Utf8),
        ("email", DataType::Utf8),
        ("region", DataType::Utf8),
        ("signup_date", DataType::Date32),
    ]);
    TableSpec::upsert("customers", "customer_id").unwrap().with_columns(columns).unwrap()
}

fn daily_spec() -> TableSpec {
    let columns = typed(&[
        ("order_date", DataType::Date32),
        ("category", DataType::Utf8),
        ("total_amount_sum", DataType::Decimal128(18, 2)),
        ("total_amount_avg", DataType::Decimal128(18, 2)),
        ("total_amount_count", DataType::Int64),
        ("quantity_sum", DataType::Int64),
    ]);
    TableSpec::replace("sales_by_category_daily", &["order_date", "category"]).unwrap().with_columns(columns).unwrap()
}

fn decimals(values: impl IntoIterator<Item = Option<i128>>, precision: u8) -> ArrayRef {
    Arc::new(Decimal128Array::from_iter(values).with_precision_and_scale(precision, 2).unwrap())
}

fn text(values: impl IntoIterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

/// Enriched orders as the load receives them: `(order_id, order_date, quantity, unit price in
/// cents)`, with metadata columns first and the stored ones in another order than the spec's.
fn sales(orders: &[(&str, &str, i64, i128)]) -> RecordBatch {
    let dates: Vec<i32> = orders.iter().map(|order| days(order.1)).collect();
    let part =
        |index: usize| orders.iter().map(move |order| order.1.split('-').nth(index).unwrap().parse::<i32>().unwrap());
    let ids = || orders.iter().map(|order| Some(order.0.to_owned()));
    RecordBatch::try_from_iter([
        ("_line", Arc::new(Int64Array::from_iter_values((0..orders.len() as i64).map(|n| n + 2))) as ArrayRef),
        ("order_date_year", Arc::new(Int32Array::from_iter_values(part(0))) as ArrayRef),
        ("order_date_month", Arc::new(Int32Array::from_iter_values(part(1))) as ArrayRef),
        ("order_id", text(ids())),
        ("customer_id", text(ids().map(|id| id.map(|id| format!("C-{id}"))))),
        ("product_id", text(orders.iter().map(|_| Some("P1".to_owned())))),
        ("quantity", Arc::new(Int64Array::from_iter_values(orders.iter().map(|order| order.2))) as ArrayRef),
        ("unit_price", decimals(orders.iter().map(|order| Some(order.3)), 10)),
        ("order_date", Arc::new(Date32Array::from(dates)) as ArrayRef),
        ("total_amount", decimals(orders.iter().map(|order| Some(i128::from(order.2) * order.3)), 18)),
        ("order_date_day", Arc::new(Int32Array::from_iter_values(part(2))) as ArrayRef),
        ("product_name", text(orders.iter().map(|_| Some("Widget".to_owned())))),
        ("category", text(orders.iter().map(|_| Some("toys".to_owned())))),
        ("name", text(ids().map(|id| id.map(|id| format!("Name {id}"))))),
        ("email", text(orders.iter().map(|_| None))),
        ("region", text(orders.iter().map(|order| (order.2 > 1).then(|| "EU".to_owned())))),
        ("_offset", Arc::new(Int64Array::from_iter_values((0..orders.len() as i64).map(|n| n * 40 + 60))) as ArrayRef),
    ])
    .unwrap()
}

fn load_sales(root: &Path, batches: &[RecordBatch]) -> LoadStats {
    let mut writer = FactTableWriter::create(root, &sales_spec()).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.commit().unwrap()
}

const FIRST_LOAD: [(&str, &str, i64, i128); 5] = [
    ("o1", "2024-03-05", 2, 1_050),
    ("o2", "2023-12-31", 1, 99),
    ("o3", "2024-03-01", 3, 2_000),
    ("o4", "2024-11-20", 1, 5),
    ("o5", "2024-03-05", 1, -50),
];

#[test]
fn the_fact_table_is_partitioned_without_partition_or_metadata_columns() {
    let scratch = Scratch::new("fact");
    let root = scratch.path().join("warehouse");
    let stats = load_sales(&root, &[sales(&FIRST_LOAD[..3]), sales(&FIRST_LOAD[3..])]);
    assert_eq!(
        stats,
        LoadStats { rows_loaded: 5, rows_kept: 0, partitions_loaded: 3, partitions_kept: 0, files_written: 3 }
    );
    assert_eq!(
        tree(&root),
        [
            ".sales.lock",
            "sales/order_date_year=2023/order_date_month=12/part-00000.parquet",
            "sales/order_date_year=2024/order_date_month=11/part-00000.parquet",
            "sales/order_date_year=2024/order_date_month=3/part-00000.parquet",
        ]
    );
    let march = root.join("sales/order_date_year=2024/order_date_month=3/part-00000.parquet");
    assert_eq!(
        schema_of(&march),
        [
            "order_id Utf8",
            "customer_id Utf8",
            "product_id Utf8",
            "quantity Int64",
            "unit_price Decimal128(10, 2)",
            "order_date Date32",
            "total_amount Decimal128(18, 2)",
            "order_date_day Int32",
            "product_name Utf8",
            "category Utf8",
            "name Utf8",
            "email Utf8",
            "region Utf8",
        ]
    );
    // Input order within the partition, across batches.
    assert_eq!(
        pretty(&march),
        "+----------+-------------+------------+----------+------------+------------+--------------+----------------+--------------+----------+---------+-------+--------+\n\
         | order_id | customer_id | product_id | quantity | unit_price | order_date | total_amount | order_date_day | product_name | category | name    | email | region |\n\
         +----------+-------------+------------+----------+------------+------------+--------------+----------------+--------------+----------+---------+-------+--------+\n\
         | o1       | C-o1        | P1         | 2        | 10.50      | 2024-03-05 | 21.00        | 5              | Widget       | toys     | Name o1 |       | EU     |\n\
         | o3       | C-o3        | P1         | 3        | 20.00      | 2024-03-01 | 60.00        | 1              | Widget       | toys     | Name o3 |       | EU     |\n\
         | o5       | C-o5        | P1         | 1        | -0.50      | 2024-03-05 | -0.50        | 5              | Widget       | toys     | Name o5 |       |        |\n\
         +----------+-------------+------------+----------+------------+------------+--------------+----------------+--------------+----------+---------+-------+--------+"
    );
    // Snappy, statistics, and the fixed writer name.
    let reader = SerializedFileReader::new(fs::File::open(&march).unwrap()).unwrap();
    let metadata = reader.metadata();
    assert_eq!(metadata.file_metadata().created_by(), Some(CREATED_BY));
    let column = metadata.row_group(0).column(0);
    assert_eq!(column.compression(), parquet::basic::Compression::SNAPPY);
    assert!(column.statistics().is_some_and(|statistics| statistics.min_bytes_opt() == Some(b"o1".as_slice())));
}

#[test]
fn a_load_replaces_the_partitions_it_has_and_keeps_the_others() {
    let scratch = Scratch::new("overwrite");
    let root = scratch.path().join("warehouse");
    // Two files in March: one open file at a time makes the writer start a second one.
    let mut writer = FactTableWriter::create(&root, &sales_spec()).unwrap().with_max_open_files(1);
    for batch in [sales(&FIRST_LOAD[..1]), sales(&FIRST_LOAD[1..2]), sales(&FIRST_LOAD[2..])] {
        writer.write(&batch).unwrap();
    }
    assert_eq!(writer.commit().unwrap().files_written, 4);
    assert_eq!(
        tree(&root.join("sales")),
        [
            "order_date_year=2023/order_date_month=12/part-00000.parquet",
            "order_date_year=2024/order_date_month=11/part-00000.parquet",
            "order_date_year=2024/order_date_month=3/part-00000.parquet",
            "order_date_year=2024/order_date_month=3/part-00001.parquet",
        ]
    );
    let december = root.join("sales/order_date_year=2023/order_date_month=12/part-00000.parquet");
    let (kept_bytes, kept_inode) = (fs::read(&december).unwrap(), fs::metadata(&december).unwrap().ino());

    // March and a new month, January 2025; December and November are not in this load.
    let stats = load_sales(&root, &[sales(&[("o6", "2024-03-09", 4, 100), ("o7", "2025-01-02", 1, 1)])]);
    assert_eq!(
        stats,
        LoadStats { rows_loaded: 2, rows_kept: 2, partitions_loaded: 2, partitions_kept: 2, files_written: 2 }
    );
    assert_eq!(
        tree(&root.join("sales")),
        [
            "order_date_year=2023/order_date_month=12/part-00000.parquet",
            "order_date_year=2024/order_date_month=11/part-00000.parquet",
            "order_date_year=2024/order_date_month=3/part-00000.parquet",
            "order_date_year=2025/order_date_month=1/part-00000.parquet",
        ]
    );
    let march = pretty(&root.join("sales/order_date_year=2024/order_date_month=3/part-00000.parquet"));
    assert!(march.contains("| o6 ") && !march.contains("| o1 ") && !march.contains("| o5 "), "{march}");
    // The untouched partition is the same file, hard-linked.
    assert_eq!(fs::read(&december).unwrap(), kept_bytes);
    assert_eq!(fs::metadata(&december).unwrap().ino(), kept_inode);
    assert_eq!(tree(&root).iter().filter(|name| name.starts_with('.')).collect::<Vec<_>>(), [".sales.lock"]);
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let scratch = Scratch::new("idempotent");
    let root = scratch.path().join("warehouse");
    let load = |root: &Path| {
        load_sales(root, &[sales(&FIRST_LOAD)]);
        upsert_dimension(root, &customers_spec(), &[customers(&[("c2", "Bea"), ("c1", "Al")])]).unwrap();
        replace_table(root, &daily_spec(), &[daily(&[("2024-01-02", Some("b")), ("2024-01-01", Some("a"))])]).unwrap();
        file_bytes(root)
    };
    let first = load(&root);
    let again = load(&root);
    let elsewhere = load(&scratch.path().join("other"));
    assert_eq!(first.len(), 8);
    assert_eq!(first, again);
    assert_eq!(first, elsewhere);
}

#[test]
fn partitions_encoded_side_by_side_give_the_same_files() {
    let scratch = Scratch::new("workers");
    let orders: Vec<(String, String)> =
        (0..600).map(|n| (format!("o{n}"), format!("202{}-{:02}-{:02}", n % 3, n / 3 % 12 + 1, n % 28 + 1))).collect();
    let rows: Vec<(&str, &str, i64, i128)> =
        orders.iter().enumerate().map(|(n, (id, date))| (id.as_str(), date.as_str(), 1, n as i128)).collect();
    let batches = [sales(&rows[..250]), sales(&rows[250..])];
    let load = |workers: usize| {
        let root = scratch.path().join(format!("workers-{workers}"));
        let mut writer = FactTableWriter::create(&root, &sales_spec()).unwrap().with_workers(workers);
        for batch in &batches {
            writer.write(batch).unwrap();
        }
        assert_eq!(writer.commit().unwrap().rows_loaded, 600);
        file_bytes(&root)
    };
    let one = load(1);
    let parquet = one.iter().filter(|(name, _)| name.ends_with(".parquet")).count();
    assert_eq!(parquet, 36, "3 years of 12 months");
    assert_eq!(load(3), one);
}

#[test]
fn an_aborted_or_dropped_load_leaves_the_previous_version() {
    let scratch = Scratch::new("abort");
    let root = scratch.path().join("warehouse");
    load_sales(&root, &[sales(&FIRST_LOAD)]);
    let before = file_bytes(&root);
    let mut writer = FactTableWriter::create(&root, &sales_spec()).unwrap();
    writer.write(&sales(&[("x1", "2024-03-05", 1, 1)])).unwrap();
    writer.abort();
    assert_eq!(file_bytes(&root), before);
    let mut writer = FactTableWriter::create(&root, &sales_spec()).unwrap();
    writer.write(&sales(&[("x2", "2024-11-05", 1, 1)])).unwrap();
    drop(writer);
    assert_eq!(file_bytes(&root), before);
}

#[test]
fn a_second_load_of_a_table_is_busy() {
    let scratch = Scratch::new("busy");
    let writer = FactTableWriter::create(scratch.path(), &sales_spec()).unwrap();
    let error = upsert_dimension(scratch.path(), &TableSpec::upsert("sales", "order_id").unwrap(), &[]).unwrap_err();
    assert!(matches!(error, SinkError::Busy { .. }), "{error}");
    let error = FactTableWriter::create(scratch.path(), &sales_spec()).unwrap_err();
    assert!(matches!(error, SinkError::Busy { .. }), "{error}");
    writer.abort();
    FactTableWriter::create(scratch.path(), &sales_spec()).unwrap().abort();
}

#[test]
fn leftovers_of_a_dead_load_are_deleted_by_the_next() {
    let scratch = Scratch::new("leftovers");
    let root = scratch.path().join("warehouse");
    load_sales(&root, &[sales(&FIRST_LOAD)]);
    let before = file_bytes(&root);
    // What a load killed while writing leaves: a staging directory with a half-written file.
    let staging = root.join(".sales.staging-4000000-7/order_date_year=2024/order_date_month=3");
    fs::create_dir_all(&staging).unwrap();
    fs::write(staging.join("part-00000.parquet"), b"PAR1 half").unwrap();
    // Readers of the table are not disturbed.
    assert_eq!(
        tree(&root.join("sales")),
        before.iter().filter_map(|(name, _)| name.strip_prefix("sales/")).collect::<Vec<_>>()
    );
    load_sales(&root, &[sales(&FIRST_LOAD)]);
    assert_eq!(file_bytes(&root), before);
}

/// The crash points of a fact load, in order, and whether the new version is in place after a
/// crash there.
const CRASH_POINTS: [(&str, bool); 5] = [
    ("after_write", false),
    ("after_files", false),
    ("after_links", false),
    ("before_swap", false),
    ("after_swap", true),
];
const CRASH_ROOT_ENV: &str = "HOST_SINKS_CRASH_ROOT";

/// Run as a child process by `a_crash_at_any_point_leaves_a_whole_version`: loads the second
/// version and exits at the crash point it is given. Does nothing in a normal test run.
#[test]
fn crash_child() {
    let Some(root) = std::env::var_os(CRASH_ROOT_ENV) else { return };
    let root = PathBuf::from(root);
    let mut writer = FactTableWriter::create(&root, &sales_spec()).unwrap();
    writer.write(&sales(&[("n1", "2024-03-07", 1, 100)])).unwrap();
    writer.write(&sales(&[("n2", "2023-12-01", 1, 100)])).unwrap();
    writer.commit().unwrap();
    panic!("the load should have stopped at a crash point");
}

#[test]
fn a_crash_at_any_point_leaves_a_whole_version() {
    let scratch = Scratch::new("crash");
    let second = [sales(&[("n1", "2024-03-07", 1, 100)]), sales(&[("n2", "2023-12-01", 1, 100)])];
    let expected_second = {
        let root = scratch.path().join("expected");
        load_sales(&root, &[sales(&FIRST_LOAD)]);
        load_sales(&root, &second);
        file_bytes(&root)
    };
    for (point, replaced) in CRASH_POINTS {
        let root = scratch.path().join(point);
        load_sales(&root, &[sales(&FIRST_LOAD)]);
        let first = file_bytes(&root);
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "sinks::warehouse::tests::crash_child", "--test-threads=1", "-q"])
            .env(CRASH_AT_ENV, point)
            .env(CRASH_ROOT_ENV, &root)
            .output()
            .unwrap();
        assert_eq!(status.status.code(), Some(CRASH_EXIT_CODE), "{point}: {}", String::from_utf8_lossy(&status.stdout));
        // The table holds one whole version; the crash's garbage is hidden beside it.
        let visible = |files: Vec<(String, Vec<u8>)>| {
            files.into_iter().filter(|(name, _)| name.starts_with("sales/")).collect::<Vec<_>>()
        };
        let expected = if replaced { &expected_second } else { &first };
        assert_eq!(visible(file_bytes(&root)), visible(expected.clone()), "{point}");
        for (name, _) in visible(file_bytes(&root)) {
            assert!(!read_parquet(&root.join(name)).is_empty(), "{point}");
        }
        // The next load deletes the garbage.
        load_sales(&root, &second);
        assert_eq!(file_bytes(&root), expected_second, "{point}");
    }
}

#[test]
fn declared_columns_are_checked_and_others_not_stored() {
    let scratch = Scratch::new("schema");
    let batch = sales(&FIRST_LOAD);
    let mut columns: Vec<(String, ArrayRef)> =
        batch.schema().fields().iter().map(|field| field.name().clone()).zip(batch.columns().iter().cloned()).collect();
    columns.retain(|(name, _)| name != "region");
    for (name, column) in &mut columns {
        if name == "total_amount" {
            *column = Arc::new(Float64Array::from(vec![1.0; 5]));
        }
    }
    columns.push(("discount".to_owned(), Arc::new(Int32Array::from(vec![0; 5]))));
    let wrong = RecordBatch::try_from_iter(columns).unwrap();
    let mut writer = FactTableWriter::create(scratch.path(), &sales_spec()).unwrap();
    assert_eq!(
        writer.write(&wrong).unwrap_err().to_string(),
        "warehouse table sales: column `total_amount` is float64 in the input, the table declares decimal(18,2); \
         column `region` is missing from the input"
    );
    drop(writer);

    // A column not declared is not stored; one declared without a type takes the input's.
    let spec = TableSpec::partitioned("slim", &["order_date_year", "order_date_month"])
        .unwrap()
        .with_columns(vec![StoredColumn::any("order_id"), StoredColumn::typed("quantity", DataType::Int64)])
        .unwrap();
    let mut writer = FactTableWriter::create(scratch.path(), &spec).unwrap();
    writer.write(&sales(&FIRST_LOAD)).unwrap();
    writer.commit().unwrap();
    let file = scratch.path().join("slim/order_date_year=2023/order_date_month=12/part-00000.parquet");
    assert_eq!(
        pretty(&file),
        "+----------+----------+\n\
         | order_id | quantity |\n\
         +----------+----------+\n\
         | o2       | 1        |\n\
         +----------+----------+"
    );

    // Each layout has its load.
    let error = FactTableWriter::create(scratch.path(), &customers_spec()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "warehouse table customers: the table is not partitioned: load it with upsert_dimension or replace_table"
    );
    assert!(replace_table(scratch.path(), &sales_spec(), &[]).is_err());
    assert!(upsert_dimension(scratch.path(), &daily_spec(), &[]).is_err());
}

#[test]
fn a_spec_lists_every_problem() {
    let columns =
        vec![StoredColumn::any("id"), StoredColumn::any("id"), StoredColumn::any("_line"), StoredColumn::any("year")];
    let problems = TableSpec::new(
        "../x",
        Some(columns),
        Layout::Partitioned { partition_by: vec!["year".into(), "month".into(), "month".into()] },
    )
    .unwrap_err();
    assert_eq!(
        problems,
        [
            "table name `../x` is not allowed: it must be 1 to 128 ASCII letters, digits, `_` or `-`, starting with a \
             letter or digit",
            "column `id` is listed twice",
            "column `_line` is row metadata (`_...`), never stored",
            "partition column `year` is also in `columns`: partition values live in the path only",
            "`partition_by` lists `month` twice",
        ]
    );
    assert_eq!(TableSpec::partitioned("t", &[]).unwrap_err(), ["`partition_by` needs at least one column"]);
    let keyed = TableSpec::upsert("t", "id").unwrap().with_columns(vec![StoredColumn::any("name")]);
    assert_eq!(keyed.unwrap_err(), ["`key` column `id` is not one of the stored `columns`"]);
    let sorted = TableSpec::replace("t", &["day"]).unwrap().with_columns(vec![]);
    assert_eq!(
        sorted.unwrap_err(),
        [
            "`columns` is empty: list the columns to store, or leave it out to store all",
            "`sort_by` column `day` is not one of the stored `columns`"
        ]
    );
}

#[test]
fn an_input_is_checked_against_the_spec() {
    let input = sales(&FIRST_LOAD[..1]).schema();
    assert!(sales_spec().input_problems(&input).is_empty());
    let spec = TableSpec::partitioned("t", &["order_date", "order_date_week", "order_date_month"]).unwrap();
    assert_eq!(
        spec.input_problems(&input),
        [
            "partition column `order_date` is date, expected an integer type",
            "partition column `order_date_week` is missing from the input",
        ]
    );
    let spec = TableSpec::upsert("t", "id").unwrap();
    assert_eq!(spec.input_problems(&input), ["key column `id` is missing from the input"]);
    let floats = Schema::new(vec![Field::new("x", DataType::Float64, true)]);
    let spec = TableSpec::replace("t", &["x"]).unwrap();
    assert_eq!(spec.input_problems(&floats), ["sort column `x` is float64, which cannot be sorted"]);
}

#[test]
fn a_null_partition_value_is_an_error_naming_the_row() {
    let scratch = Scratch::new("null-partition");
    let batch = sales(&FIRST_LOAD[..2]);
    let columns = batch.schema_ref().fields().iter().zip(batch.columns()).map(|(field, column)| {
        let column = if field.name() == "order_date_month" {
            Arc::new(Int32Array::from(vec![Some(3), None]))
        } else {
            column.clone()
        };
        (field.name().clone(), column)
    });
    let batch = RecordBatch::try_from_iter(columns.collect::<Vec<_>>()).unwrap();
    let mut writer = FactTableWriter::create(scratch.path(), &sales_spec()).unwrap();
    assert_eq!(
        writer.write(&batch).unwrap_err().to_string(),
        "warehouse table sales: the row from line 3 has a null `order_date_month`: a partition value cannot be null"
    );
}

#[test]
fn a_tight_memory_budget_flushes_row_groups() {
    let scratch = Scratch::new("budget");
    let orders: Vec<(String, &str)> =
        (0..300).map(|n| (format!("o{n}"), if n % 2 == 0 { "2024-03-05" } else { "2024-04-05" })).collect();
    let mut writer = FactTableWriter::create(scratch.path(), &sales_spec()).unwrap().with_memory_budget(1);
    for chunk in orders.chunks(100) {
        let chunk: Vec<(&str, &str, i64, i128)> = chunk.iter().map(|(id, date)| (id.as_str(), *date, 1, 1)).collect();
        writer.write(&sales(&chunk)).unwrap();
    }
    writer.commit().unwrap();
    let march = scratch.path().join("sales/order_date_year=2024/order_date_month=3/part-00000.parquet");
    let reader = SerializedFileReader::new(fs::File::open(&march).unwrap()).unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 3);
    let ids: Vec<String> = read_parquet(&march)
        .iter()
        .flat_map(|batch| {
            batch.column(0).as_string::<i32>().iter().map(|id| id.unwrap().to_owned()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, orders.iter().step_by(2).map(|(id, _)| id.clone()).collect::<Vec<_>>());
}

fn customers(rows: &[(&str, &str)]) -> RecordBatch {
    let id = |row: &(&str, &str)| (!row.0.is_empty()).then(|| row.0.to_owned());
    RecordBatch::try_from_iter([
        ("customer_id", text(rows.iter().map(id))),
        ("name", text(rows.iter().map(|row| Some(row.1.to_owned())))),
        ("email", text(rows.iter().map(|row| Some(format!("{}@example.com", row.1.to_lowercase()))))),
        ("region", text(rows.iter().map(|_| Some("EU".to_owned())))),
        ("signup_date", Arc::new(Date32Array::from(vec![days("2023-01-15"); rows.len()])) as ArrayRef),
        ("_line", Arc::new(Int64Array::from(vec![2; rows.len()])) as ArrayRef),
    ])
    .unwrap()
}

#[test]
fn a_dimension_upsert_replaces_keys_it_has_and_keeps_the_others() {
    let scratch = Scratch::new("upsert");
    let stats =
        upsert_dimension(scratch.path(), &customers_spec(), &[customers(&[("c3", "Cy"), ("c1", "Al"), ("c2", "Bea")])])
            .unwrap();
    assert_eq!(stats, LoadStats { rows_loaded: 3, files_written: 1, ..LoadStats::default() });
    // c2 changes, c4 is new (its second row, a duplicate, is not kept), c1 and c3 stay; two
    // rows without a key are one key.
    let input =
        [customers(&[("c2", "Bee"), ("c4", "Di")]), customers(&[("c4", "Dup"), ("", "Nobody"), ("", "Nobody2")])];
    let stats = upsert_dimension(scratch.path(), &customers_spec(), &input).unwrap();
    assert_eq!(stats, LoadStats { rows_loaded: 3, rows_kept: 2, files_written: 1, ..LoadStats::default() });
    assert_eq!(tree(scratch.path()), [".customers.lock", "customers/part-00000.parquet"]);
    assert_eq!(
        pretty(&scratch.path().join("customers/part-00000.parquet")),
        "+-------------+--------+--------------------+--------+-------------+\n\
         | customer_id | name   | email              | region | signup_date |\n\
         +-------------+--------+--------------------+--------+-------------+\n\
         | c1          | Al     | al@example.com     | EU     | 2023-01-15  |\n\
         | c2          | Bee    | bee@example.com    | EU     | 2023-01-15  |\n\
         | c3          | Cy     | cy@example.com     | EU     | 2023-01-15  |\n\
         | c4          | Di     | di@example.com     | EU     | 2023-01-15  |\n\
         |             | Nobody | nobody@example.com | EU     | 2023-01-15  |\n\
         +-------------+--------+--------------------+--------+-------------+"
    );
    // No input: the table stays as it was.
    let before = file_bytes(scratch.path());
    upsert_dimension(scratch.path(), &customers_spec(), &[]).unwrap();
    assert_eq!(file_bytes(scratch.path()), before);
}

fn daily(rows: &[(&str, Option<&str>)]) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("category", text(rows.iter().map(|row| row.1.map(str::to_owned)))),
        ("order_date", Arc::new(Date32Array::from_iter_values(rows.iter().map(|row| days(row.0)))) as ArrayRef),
        ("total_amount_sum", decimals((0..rows.len() as i128).map(|n| Some(n * 100 + 1)), 18)),
        ("total_amount_avg", decimals((0..rows.len() as i128).map(|n| Some(-n * 50)), 18)),
        ("total_amount_count", Arc::new(Int64Array::from_iter_values(0..rows.len() as i64)) as ArrayRef),
        ("quantity_sum", Arc::new(Int64Array::from_iter_values((0..rows.len() as i64).map(|n| n * 3))) as ArrayRef),
    ])
    .unwrap()
}

#[test]
fn a_replaced_table_is_sorted_by_its_keys() {
    let scratch = Scratch::new("replace");
    let rows = [
        ("2024-01-02", Some("toys")),
        ("2024-01-01", None),
        ("2024-01-01", Some("books")),
        ("2024-01-02", Some("Toys")),
    ];
    let stats = replace_table(scratch.path(), &daily_spec(), &[daily(&rows[..2]), daily(&rows[2..])]).unwrap();
    assert_eq!(stats, LoadStats { rows_loaded: 4, files_written: 1, ..LoadStats::default() });
    let path = scratch.path().join("sales_by_category_daily/part-00000.parquet");
    assert_eq!(
        pretty(&path),
        "+------------+----------+------------------+------------------+--------------------+--------------+\n\
         | order_date | category | total_amount_sum | total_amount_avg | total_amount_count | quantity_sum |\n\
         +------------+----------+------------------+------------------+--------------------+--------------+\n\
         | 2024-01-01 | books    | 0.01             | 0.00             | 0                  | 0            |\n\
         | 2024-01-01 |          | 1.01             | -0.50            | 1                  | 3            |\n\
         | 2024-01-02 | Toys     | 1.01             | -0.50            | 1                  | 3            |\n\
         | 2024-01-02 | toys     | 0.01             | 0.00             | 0                  | 0            |\n\
         +------------+----------+------------------+------------------+--------------------+--------------+"
    );
    replace_table(scratch.path(), &daily_spec(), &[daily(&rows[..1])]).unwrap();
    assert_eq!(read_parquet(&path).iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    // A table declaring neither columns nor sort keys keeps what it is given, sorted by every
    // orderable column.
    let spec = TableSpec::replace("scratch_table", &[]).unwrap();
    replace_table(scratch.path(), &spec, &[customers(&[("b", "x"), ("a", "y")])]).unwrap();
    assert_eq!(
        pretty(&scratch.path().join("scratch_table/part-00000.parquet")),
        "+-------------+------+---------------+--------+-------------+\n\
         | customer_id | name | email         | region | signup_date |\n\
         +-------------+------+---------------+--------+-------------+\n\
         | a           | y    | y@example.com | EU     | 2023-01-15  |\n\
         | b           | x    | x@example.com | EU     | 2023-01-15  |\n\
         +-------------+------+---------------+--------+-------------+"
    );
}
