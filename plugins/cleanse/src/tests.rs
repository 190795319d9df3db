//! The cleanse stage run natively through the SDK's harness, outputs compared as tables.

use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use etl_sdk::arrow::schema::DataType;
use etl_sdk::testing::{Run, batch, run};
use etl_sdk::{Error, Result};

use crate::Cleanse;

fn utf8(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn int64(values: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn cleanse(config: &str, batches: Vec<RecordBatch>) -> Result<Run> {
    run::<Cleanse>(config, [("in", batches)])
}

fn table(lines: &[&str]) -> String {
    lines.join("\n")
}

const BY_ORDER_ID: &str = r#"{"dedupe": {"key": ["order_id"]}}"#;

/// Two batches of orders: stray whitespace, a key repeated within and across batches.
fn orders() -> Vec<RecordBatch> {
    let first = batch(vec![
        ("_line", int64(&[Some(2), Some(3), Some(4), Some(5)])),
        ("order_id", utf8(&[Some("o1"), Some(" o2"), Some("o1\t"), Some("\u{3000}o3")])),
        ("customer_id", utf8(&[Some(" c1 "), Some("c2"), Some("c9"), None])),
        ("quantity", int64(&[Some(1), Some(2), Some(3), Some(4)])),
        ("_note", utf8(&[Some(" kept "), None, None, None])),
    ]);
    let second = batch(vec![
        ("_line", int64(&[Some(7), Some(8)])),
        ("order_id", utf8(&[Some("o2"), Some("O2")])),
        ("customer_id", utf8(&[Some("c5\u{a0}"), Some("c6")])),
        ("quantity", int64(&[Some(5), None])),
        ("_note", utf8(&[None, None])),
    ]);
    vec![first, second]
}

#[test]
fn trims_text_then_keeps_the_first_row_of_each_key_across_batches() {
    let run = cleanse(BY_ORDER_ID, orders()).unwrap();
    assert_eq!(
        run.pretty("out"),
        table(&[
            "+-------+----------+-------------+----------+--------+",
            "| _line | order_id | customer_id | quantity | _note  |",
            "+-------+----------+-------------+----------+--------+",
            "| 2     | o1       | c1          | 1        |  kept  |",
            "| 3     | o2       | c2          | 2        |        |",
            "| 5     | o3       |             | 4        |        |",
            "| 8     | O2       | c6          |          |        |",
            "+-------+----------+-------------+----------+--------+",
        ])
    );
    assert_eq!(
        run.pretty("rejected"),
        table(&[
            "+-------+----------+-------------+----------+-------+---------------------+---------------------+",
            "| _line | order_id | customer_id | quantity | _note | _reasons            | _message            |",
            "+-------+----------+-------------+----------+-------+---------------------+---------------------+",
            "| 4     | o1       | c9          | 3        |       | duplicate(order_id) | duplicate of line 2 |",
            "| 7     | o2       | c5          | 5        |       | duplicate(order_id) | duplicate of line 3 |",
            "+-------+----------+-------------+----------+-------+---------------------+---------------------+",
        ])
    );
    let metrics: Vec<(&str, i64)> = run.metrics.iter().map(|m| (m.name.as_str(), m.value)).collect();
    assert_eq!(metrics, [("rows_in", 6), ("rows_out", 4), ("duplicates", 2), ("trimmed_values", 5)]);
}

#[test]
fn rejected_rows_keep_every_input_column_and_type_then_reasons_and_message() {
    let run = cleanse(BY_ORDER_ID, orders()).unwrap();
    let schema = run.batches("rejected")[0].schema();
    let columns: Vec<(&str, &DataType, bool)> =
        schema.fields().iter().map(|f| (f.name().as_str(), f.data_type(), f.is_nullable())).collect();
    assert_eq!(
        columns,
        [
            ("_line", &DataType::Int64, false),
            ("order_id", &DataType::Utf8, false),
            ("customer_id", &DataType::Utf8, true),
            ("quantity", &DataType::Int64, false),
            ("_note", &DataType::Utf8, true),
            ("_reasons", &DataType::Utf8, false),
            ("_message", &DataType::Utf8, true),
        ]
    );
    assert_eq!(run.batches("out")[0].schema(), orders()[0].schema());
}

#[test]
fn null_keys_equal_each_other() {
    let ids = batch(vec![
        ("_line", int64(&[Some(2), Some(3), Some(4), Some(5)])),
        ("id", utf8(&[None, Some(""), None, Some("  ")])),
    ]);
    let run = cleanse(r#"{"dedupe": {"key": ["id"]}}"#, vec![ids]).unwrap();
    // The all-space value trims to the empty string, which is a value, not null.
    assert_eq!(
        run.pretty("rejected"),
        table(&[
            "+-------+----+---------------+---------------------+",
            "| _line | id | _reasons      | _message            |",
            "+-------+----+---------------+---------------------+",
            "| 4     |    | duplicate(id) | duplicate of line 2 |",
            "| 5     |    | duplicate(id) | duplicate of line 3 |",
            "+-------+----+---------------+---------------------+",
        ])
    );
    assert_eq!(run.rows("out"), 2);
}

#[test]
fn multi_column_keys_compare_every_part() {
    let pairs = batch(vec![
        ("_line", int64(&[Some(2), Some(3), Some(4), Some(5), Some(6), Some(7), Some(8)])),
        ("customer_id", utf8(&[Some("a"), Some("a"), Some("a "), None, None, Some("a"), Some("ap")])),
        ("product_id", int64(&[Some(1), Some(2), Some(1), Some(1), Some(1), None, None])),
    ]);
    let run = cleanse(r#"{"dedupe": {"key": ["customer_id", "product_id"]}}"#, vec![pairs]).unwrap();
    assert_eq!(
        run.pretty("out"),
        table(&[
            "+-------+-------------+------------+",
            "| _line | customer_id | product_id |",
            "+-------+-------------+------------+",
            "| 2     | a           | 1          |",
            "| 3     | a           | 2          |",
            "| 5     |             | 1          |",
            "| 7     | a           |            |",
            "| 8     | ap          |            |",
            "+-------+-------------+------------+",
        ])
    );
    assert_eq!(
        run.pretty("rejected"),
        table(&[
            "+-------+-------------+------------+-----------------------------------+---------------------+",
            "| _line | customer_id | product_id | _reasons                          | _message            |",
            "+-------+-------------+------------+-----------------------------------+---------------------+",
            "| 4     | a           | 1          | duplicate(customer_id,product_id) | duplicate of line 2 |",
            "| 6     |             | 1          | duplicate(customer_id,product_id) | duplicate of line 5 |",
            "+-------+-------------+------------+-----------------------------------+---------------------+",
        ])
    );
}

#[test]
fn trims_only_the_listed_columns() {
    let rows = batch(vec![
        ("_line", int64(&[Some(2), Some(3)])),
        ("order_id", utf8(&[Some(" o1 "), Some("o2")])),
        ("customer_id", utf8(&[Some("\u{3000}c1\t"), None])),
        ("_note", utf8(&[Some(" x "), None])),
    ]);
    let run = cleanse(r#"{"trim": ["customer_id"]}"#, vec![rows]).unwrap();
    assert_eq!(
        run.pretty("out"),
        table(&[
            "+-------+----------+-------------+-------+",
            "| _line | order_id | customer_id | _note |",
            "+-------+----------+-------------+-------+",
            "| 2     |  o1      | c1          |  x    |",
            "| 3     | o2       |             |       |",
            "+-------+----------+-------------+-------+",
        ])
    );
    assert_eq!(run.metric("trimmed_values"), Some(1));
    assert!(run.batches("rejected").is_empty());
}

#[test]
fn without_trimming_keys_compare_as_they_are() {
    let run = cleanse(r#"{"trim": "none", "dedupe": {"key": ["order_id"]}}"#, orders()).unwrap();
    assert_eq!(run.rows("rejected"), 0);
    assert_eq!(run.batches("out"), orders().as_slice());
    assert_eq!(run.metric("trimmed_values"), Some(0));
}

#[test]
fn a_custom_line_column_names_the_first_row() {
    let rows =
        batch(vec![("row_no", int64(&[Some(10), None, Some(30)])), ("k", utf8(&[Some("x"), Some("y"), Some("x")]))]);
    let config = r#"{"dedupe": {"key": ["k"], "line_column": "row_no"}}"#;
    let run = cleanse(config, vec![rows]).unwrap();
    assert_eq!(
        run.batches("rejected")[0].column(3).as_any().downcast_ref::<StringArray>().unwrap().value(0),
        "duplicate of line 10"
    );

    let unnumbered = batch(vec![("row_no", int64(&[None, Some(2)])), ("k", utf8(&[Some("x"), Some("x")]))]);
    let run = cleanse(config, vec![unnumbered]).unwrap();
    let message =
        run.batches("rejected")[0].column(3).as_any().downcast_ref::<StringArray>().unwrap().value(0).to_owned();
    assert_eq!(message, "duplicate of an earlier row (its `row_no` is null)");
}

#[test]
fn empty_batches_and_no_dedupe() {
    let empty = orders()[0].slice(0, 0);
    let run = cleanse(
        BY_ORDER_ID,
        vec![empty.clone(), orders()[0].clone(), empty.clone(), orders()[1].clone(), empty.clone()],
    )
    .unwrap();
    assert_eq!(run.batches("out").len(), 5);
    assert_eq!((run.rows("out"), run.rows("rejected")), (4, 2));

    // Without `dedupe` nothing is rejected; a batch with nothing to trim passes as it is.
    let clean = batch(vec![("_line", int64(&[Some(2)])), ("id", utf8(&[Some("a")]))]);
    let run = cleanse("", vec![clean.slice(0, 0), clean.clone()]).unwrap();
    assert_eq!(run.batches("out")[1], clean);
    assert!(run.batches("rejected").is_empty());
    assert_eq!((run.metric("rows_in"), run.metric("rows_out"), run.metric("duplicates")), (Some(1), Some(1), Some(0)));
}

#[test]
fn refuses_bad_configs_naming_the_key() {
    let cases = [
        (
            r#"{"trim": "some"}"#,
            "trim: invalid value: string \"some\", expected `all`, `none` or a list of column names at line 1 column 15",
        ),
        (
            r#"{"trim": ["a", "", "_line", "a"]}"#,
            "trim[1]: empty; trim[2]: `_line` is row metadata (a name starting with `_`), which is never trimmed; trim[3]: `a` is already listed as trim[0]",
        ),
        (r#"{"dedupe": {}}"#, "dedupe: missing field `key` at line 1 column 13"),
        (r#"{"dedupe": {"key": []}}"#, "dedupe.key: empty; list the key columns"),
        (
            r#"{"dedupe": {"key": ["_offset"], "line_column": ""}}"#,
            "dedupe.key[0]: `_offset` is row metadata (a name starting with `_`), which is never part of a key; dedupe.line_column: empty",
        ),
        (
            r#"{"dedupe": {"key": "order_id"}}"#,
            "dedupe.key: invalid type: string \"order_id\", expected a sequence at line 1 column 29",
        ),
        (
            r#"{"dedupe": {"key": ["a"], "keep": "last"}}"#,
            "dedupe.keep: unknown field `keep`, expected `key` or `line_column` at line 1 column 32",
        ),
        (
            r#"{"trim": "all", "strip": true}"#,
            "strip: unknown field `strip`, expected `trim` or `dedupe` at line 1 column 23",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(cleanse(config, vec![]).unwrap_err(), Error::config(expected), "{config}");
    }
}

#[test]
fn refuses_missing_and_mistyped_input_columns() {
    let rows = orders().remove(0);
    let cases = [
        (r#"{"trim": ["region"]}"#, "missing required column `region` (listed under `trim`)"),
        (r#"{"trim": ["quantity"]}"#, "column `quantity` has type Int64, expected Utf8 (listed under `trim`)"),
        (r#"{"dedupe": {"key": ["region"]}}"#, "missing required column `region` (listed under `dedupe.key`)"),
        (
            r#"{"dedupe": {"key": ["order_id"], "line_column": "line"}}"#,
            "missing required column `line`: dedupe quotes the line of a duplicate's first occurrence from it (set `dedupe.line_column`)",
        ),
        (
            r#"{"dedupe": {"key": ["order_id"], "line_column": "order_id"}}"#,
            "column `order_id` has type Utf8, expected Int64",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(cleanse(config, vec![rows.clone()]).unwrap_err(), Error::input(expected), "{config}");
    }
    let floats = batch(vec![("_line", int64(&[Some(2)])), ("x", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)]);
    assert_eq!(
        cleanse(r#"{"dedupe": {"key": ["x"]}}"#, vec![floats]).unwrap_err(),
        Error::input("column `x` has type Float64: floating-point values cannot be compared exactly as keys")
    );
}

#[test]
fn describes_itself() {
    let info = <Cleanse as etl_sdk::Stage>::info();
    let ports = |ports: &[etl_sdk::Port]| ports.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        (ports(&info.inputs), ports(&info.outputs)),
        (vec!["in".to_owned()], vec!["out".to_owned(), "rejected".to_owned()])
    );
    assert!(info.config_help.contains("key: [order_id]"), "{}", info.config_help);
}
