//! The stage run natively through the SDK harness, outputs compared as tables.

use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, StringArray,
};
use etl_sdk::testing::{Harness, Run, batch, run};
use etl_sdk::{Error, Result};

use crate::Aggregate;

// ---- building batches ----

fn utf8(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn int64(values: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn decimal(values: &[Option<i128>], precision: u8, scale: i8) -> ArrayRef {
    Arc::new(Decimal128Array::from(values.to_vec()).with_precision_and_scale(precision, scale).unwrap())
}

fn money(values: &[Option<i128>]) -> ArrayRef {
    decimal(values, 18, 2)
}

/// Days since 1970-01-01 for the few dates these tests use.
fn date(iso: &str) -> i32 {
    match iso {
        "1969-12-31" => -1,
        "2023-12-31" => 19_722,
        "2024-01-01" => 19_723,
        "2024-01-02" => 19_724,
        other => panic!("add {other} to the test's date table"),
    }
}

fn dates(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(Date32Array::from(values.iter().map(|v| v.map(date)).collect::<Vec<_>>()))
}

/// `expected` with each line's indentation removed, so tables can sit indented in the test.
fn table(expected: &str) -> String {
    expected.trim().lines().map(str::trim).collect::<Vec<_>>().join("\n")
}

fn aggregate(config: &str, batches: Vec<RecordBatch>) -> Result<Run> {
    run::<Aggregate>(config, [("in", batches)])
}

const SALES: &str = r#"{"tables": [
    {"name": "daily_sales", "group_by": ["order_date", "category"], "aggregates": [
        {"column": "total_amount", "fn": "sum"},
        {"column": "total_amount", "fn": "avg"},
        {"column": "total_amount", "fn": "count"},
        {"column": "quantity", "fn": "sum"}
    ]},
    {"name": "customer_summary", "group_by": ["customer_id", "name", "region"], "aggregates": [
        {"column": "total_amount", "fn": "sum"},
        {"column": "total_amount", "fn": "count"}
    ]}
]}"#;

fn orders() -> Vec<RecordBatch> {
    vec![
        batch(vec![
            ("_line", int64(&[Some(2), Some(3), Some(4), Some(5)])),
            ("order_date", dates(&[Some("2024-01-02"), Some("2024-01-01"), Some("2024-01-01"), Some("2024-01-01")])),
            ("category", utf8(&[Some("Books"), Some("books"), Some("Books"), None])),
            ("customer_id", utf8(&[Some("C2"), Some("C1"), Some("C1"), None])),
            ("name", utf8(&[Some("Bob"), Some("Ann"), Some("Ann"), None])),
            ("region", utf8(&[Some("US"), Some("EU"), Some("EU"), None])),
            ("total_amount", money(&[Some(1000), Some(550), Some(125), Some(200)])),
            ("quantity", int64(&[Some(1), Some(2), Some(3), Some(1)])),
            ("_offset", int64(&[Some(10), Some(20), Some(30), Some(40)])),
        ]),
        batch(vec![
            ("_line", int64(&[Some(6), Some(7), Some(8), Some(9)])),
            ("order_date", dates(&[Some("2024-01-01"), None, Some("2024-01-01"), Some("2023-12-31")])),
            ("category", utf8(&[Some("Books"), Some("Books"), None, Some("Books")])),
            ("customer_id", utf8(&[Some("C2"), Some("C1"), Some("C1"), None])),
            ("name", utf8(&[Some("Bob"), Some("Ann"), Some("Ann"), None])),
            ("region", utf8(&[Some("US"), Some("EU"), Some("EU"), None])),
            ("total_amount", money(&[None, Some(300), Some(1), Some(400)])),
            ("quantity", int64(&[Some(4), None, Some(1), Some(2)])),
            ("_offset", int64(&[Some(50), Some(60), Some(70), Some(80)])),
        ]),
    ]
}

// ---- results ----

#[test]
fn several_tables_from_one_stage_with_keys_repeated_across_batches_and_null_keys() {
    let run = aggregate(SALES, orders()).unwrap();
    // Sorted by key in byte order ("Books" < "books"), nulls last; 2.01 / 2 = 1.005 → 1.01.
    assert_eq!(
        run.pretty("daily_sales"),
        table(
            "
            +------------+----------+------------------+------------------+--------------------+--------------+
            | order_date | category | total_amount_sum | total_amount_avg | total_amount_count | quantity_sum |
            +------------+----------+------------------+------------------+--------------------+--------------+
            | 2023-12-31 | Books    | 4.00             | 4.00             | 1                  | 2            |
            | 2024-01-01 | Books    | 1.25             | 1.25             | 2                  | 7            |
            | 2024-01-01 | books    | 5.50             | 5.50             | 1                  | 2            |
            | 2024-01-01 |          | 2.01             | 1.01             | 2                  | 2            |
            | 2024-01-02 | Books    | 10.00            | 10.00            | 1                  | 1            |
            |            | Books    | 3.00             | 3.00             | 1                  |              |
            +------------+----------+------------------+------------------+--------------------+--------------+
            "
        )
    );
    assert_eq!(
        run.pretty("customer_summary"),
        table(
            "
            +-------------+------+--------+------------------+--------------------+
            | customer_id | name | region | total_amount_sum | total_amount_count |
            +-------------+------+--------+------------------+--------------------+
            | C1          | Ann  | EU     | 9.76             | 4                  |
            | C2          | Bob  | US     | 10.00            | 2                  |
            |             |      |        | 6.00             | 2                  |
            +-------------+------+--------+------------------+--------------------+
            "
        )
    );
    let types = |port: &str| -> Vec<String> {
        run.batches(port)[0].schema().fields().iter().map(|f| f.data_type().to_string()).collect()
    };
    assert_eq!(types("daily_sales"), ["Date32", "Utf8", "Decimal128(18, 2)", "Decimal128(18, 2)", "Int64", "Int64"]);
    assert_eq!(types("customer_summary"), ["Utf8", "Utf8", "Utf8", "Decimal128(18, 2)", "Int64"]);
    let metrics: Vec<(&str, i64)> = run.metrics.iter().map(|m| (m.name.as_str(), m.value)).collect();
    assert_eq!(metrics, [("rows_in", 8), ("groups.daily_sales", 6), ("groups.customer_summary", 3)]);
}

#[test]
fn avg_rounds_half_away_from_zero_and_integer_avg_is_float() {
    let input = batch(vec![
        (
            "g",
            utf8(&[
                Some("a"),
                Some("a"),
                Some("b"),
                Some("b"),
                Some("c"),
                Some("c"),
                Some("c"),
                Some("d"),
                Some("d"),
                Some("d"),
            ]),
        ),
        // a: 2.01 / 2 = 1.005 → 1.01; b: -1.005 → -1.01; c: 10.00 / 3 = 3.333… → 3.33; d: -20.00 / 3 → -6.67
        (
            "v",
            money(&[
                Some(100),
                Some(101),
                Some(-100),
                Some(-101),
                Some(300),
                Some(300),
                Some(400),
                Some(-700),
                Some(-700),
                Some(-600),
            ]),
        ),
        ("n", int64(&[Some(1), Some(2), Some(-1), None, Some(1), Some(1), Some(2), None, None, None])),
    ]);
    let config = r#"{"tables": [{"name": "t", "group_by": ["g"], "aggregates": [
        {"column": "v", "fn": "avg"}, {"column": "n", "fn": "avg"}, {"column": "v", "fn": "sum"}]}]}"#;
    let run = aggregate(config, vec![input]).unwrap();
    assert_eq!(
        run.pretty("t"),
        table(
            "
            +---+-------+--------------------+--------+
            | g | v_avg | n_avg              | v_sum  |
            +---+-------+--------------------+--------+
            | a | 1.01  | 1.5                | 2.01   |
            | b | -1.01 | -1.0               | -2.01  |
            | c | 3.33  | 1.3333333333333333 | 10.00  |
            | d | -6.67 |                    | -20.00 |
            +---+-------+--------------------+--------+
            "
        )
    );
    let n_avg = run.batches("t")[0].column(2).as_any().downcast_ref::<Float64Array>().unwrap().value(2);
    assert_eq!(n_avg, 4.0 / 3.0);
}

#[test]
fn sums_are_checked_at_the_decimal_18_2_bound() {
    let max = 999_999_999_999_999_999; // 9999999999999999.99
    let input = batch(vec![
        ("g", utf8(&[Some("at"), Some("at"), Some("back"), Some("back"), Some("back"), Some("over"), Some("over")])),
        ("v", money(&[Some(max - 1), Some(1), Some(max), Some(1), Some(-1), Some(max), Some(1)])),
    ]);
    let config = r#"{"tables": [{"name": "t", "group_by": ["g"], "aggregates": [{"column": "v", "fn": "sum"}]}]}"#;
    assert_eq!(
        aggregate(config, vec![input.clone()]).unwrap_err(),
        Error::failed("table `t`: `v_sum` = 10000000000000000.00 does not fit decimal(18,2) (group g=\"over\")")
    );
    // Without the group that overflows: exactly at the bound fits, and so does a sum that passes
    // the bound on the way and comes back.
    let run = aggregate(config, vec![input.slice(0, 5)]).unwrap();
    assert_eq!(
        run.pretty("t"),
        table(
            "
            +------+---------------------+
            | g    | v_sum               |
            +------+---------------------+
            | at   | 9999999999999999.99 |
            | back | 9999999999999999.99 |
            +------+---------------------+
            "
        )
    );
}

#[test]
fn integer_sums_and_wide_decimal_averages_fail_instead_of_wrapping() {
    let input = batch(vec![("g", int64(&[Some(7), Some(7)])), ("n", int64(&[Some(i64::MAX), Some(1)]))]);
    let config = r#"{"tables": [{"name": "t", "group_by": ["g"], "aggregates": [{"column": "n", "fn": "sum"}]}]}"#;
    assert_eq!(
        aggregate(config, vec![input]).unwrap_err(),
        Error::failed("table `t`: `n_sum` = 9223372036854775808 does not fit int64 (group g=7)")
    );

    let input = batch(vec![("v", decimal(&[Some(10i128.pow(20))], 38, 2))]);
    let config = r#"{"tables": [{"name": "t", "group_by": [], "aggregates": [{"column": "v", "fn": "avg"}]}]}"#;
    assert_eq!(
        aggregate(config, vec![input]).unwrap_err(),
        Error::failed(
            "table `t`: `v_avg` = 1000000000000000000.00 does not fit decimal(18,2) (group the single group)"
        )
    );

    let huge = 10i128.pow(38) - 1;
    let input = batch(vec![("v", decimal(&[Some(huge), Some(huge)], 38, 0))]);
    let config = r#"{"tables": [{"name": "t", "group_by": [], "aggregates": [{"column": "v", "fn": "sum"}]}]}"#;
    assert_eq!(
        aggregate(config, vec![input]).unwrap_err(),
        Error::failed("table `t`: `v_sum` = a sum beyond 38 digits (group the single group)")
    );
}

#[test]
fn keys_of_every_type_sort_ascending_with_nulls_last_and_min_max_keep_types() {
    let first = batch(vec![
        ("i32", Arc::new(Int32Array::from(vec![Some(3), None, Some(-5)])) as ArrayRef),
        ("d", dates(&[Some("2024-01-01"), Some("1969-12-31"), None])),
        ("price", decimal(&[Some(-150), Some(20), None], 10, 2)),
        ("word", utf8(&[Some("émile"), Some("Zed"), None])),
        ("n", int64(&[Some(10), None, Some(-3)])),
    ]);
    let second = batch(vec![
        ("i32", Arc::new(Int32Array::from(vec![Some(3), None, Some(3)])) as ArrayRef),
        ("d", dates(&[Some("2024-01-01"), Some("1969-12-31"), Some("2024-01-01")])),
        ("price", decimal(&[Some(-150), Some(20), Some(-150)], 10, 2)),
        ("word", utf8(&[Some("apple"), Some("Zebra"), None])),
        ("n", int64(&[Some(-10), None, Some(4)])),
    ]);
    let config = r#"{"tables": [{"name": "t", "group_by": ["i32", "d", "price"], "aggregates": [
        {"column": "word", "fn": "min"}, {"column": "word", "fn": "max"},
        {"column": "n", "fn": "min", "as": "least"}, {"column": "n", "fn": "max", "as": "most"},
        {"column": "d", "fn": "max"}, {"column": "price", "fn": "min"},
        {"column": "n", "fn": "sum"}, {"column": "n", "fn": "count"}
    ]}]}"#;
    let run = aggregate(config, vec![first, second]).unwrap();
    assert_eq!(
        run.pretty("t"),
        table(
            "
            +-----+------------+-------+----------+----------+-------+------+------------+-----------+-------+---------+
            | i32 | d          | price | word_min | word_max | least | most | d_max      | price_min | n_sum | n_count |
            +-----+------------+-------+----------+----------+-------+------+------------+-----------+-------+---------+
            | -5  |            |       |          |          | -3    | -3   |            |           | -3    | 1       |
            | 3   | 2024-01-01 | -1.50 | apple    | émile    | -10   | 10   | 2024-01-01 | -1.50     | 4     | 3       |
            |     | 1969-12-31 | 0.20  | Zebra    | Zed      |       |      | 1969-12-31 | 0.20      |       | 2       |
            +-----+------------+-------+----------+----------+-------+------+------------+-----------+-------+---------+
            "
        )
    );
    let types: Vec<String> = run.batches("t")[0].schema().fields().iter().map(|f| f.data_type().to_string()).collect();
    assert_eq!(
        types,
        [
            "Int32",
            "Date32",
            "Decimal128(10, 2)",
            "Utf8",
            "Utf8",
            "Int64",
            "Int64",
            "Date32",
            "Decimal128(10, 2)",
            "Int64",
            "Int64"
        ]
    );
}

#[test]
fn numeric_and_decimal_keys_sort_by_value() {
    let input = batch(vec![
        ("k", int64(&[Some(10), Some(-2), None, Some(9), Some(-30)])),
        ("p", decimal(&[Some(5), Some(-100), Some(1), Some(-5), Some(5)], 10, 2)),
    ]);
    let config = r#"{"tables": [
        {"name": "by_k", "group_by": ["k"], "aggregates": []},
        {"name": "by_p", "group_by": ["p"], "aggregates": [{"column": "k", "fn": "count"}]}
    ]}"#;
    let run = aggregate(config, vec![input]).unwrap();
    let column = |port: &str| run.batches(port)[0].column(0).clone();
    assert_eq!(
        column("by_k").as_ref(),
        &Int64Array::from(vec![Some(-30), Some(-2), Some(9), Some(10), None]) as &dyn etl_sdk::arrow::array::Array
    );
    assert_eq!(
        run.pretty("by_p"),
        table(
            "
            +-------+---------+
            | p     | k_count |
            +-------+---------+
            | -1.00 | 1       |
            | -0.05 | 1       |
            | 0.01  | 1       |
            | 0.05  | 2       |
            +-------+---------+
            "
        )
    );
}

#[test]
fn empty_batches_give_empty_tables_and_no_batches_give_nothing() {
    let empty = orders()[0].slice(0, 0);
    let run = aggregate(SALES, vec![empty.clone(), empty]).unwrap();
    assert_eq!(run.batches("daily_sales").len(), 1);
    assert_eq!(run.rows("daily_sales"), 0);
    assert_eq!(run.batches("daily_sales")[0].schema().fields().len(), 6);
    assert_eq!(run.rows("customer_summary"), 0);
    assert_eq!(run.metric("groups.daily_sales"), Some(0));

    let run = aggregate(SALES, vec![]).unwrap();
    assert!(run.outputs.is_empty());
    assert_eq!(run.metric("rows_in"), Some(0));
}

#[test]
fn an_empty_group_by_makes_one_group_of_all_rows() {
    let config = r#"{"tables": [{"name": "totals", "group_by": [], "aggregates": [
        {"column": "total_amount", "fn": "sum"}, {"column": "total_amount", "fn": "count"}, {"column": "quantity", "fn": "max"}]}]}"#;
    let run = aggregate(config, orders()).unwrap();
    assert_eq!(
        run.pretty("totals"),
        table(
            "
            +------------------+--------------------+--------------+
            | total_amount_sum | total_amount_count | quantity_max |
            +------------------+--------------------+--------------+
            | 25.76            | 8                  | 4            |
            +------------------+--------------------+--------------+
            "
        )
    );
}

#[test]
fn large_tables_come_out_sorted_in_chunks() {
    let keys: Vec<Option<i64>> = (0..70_000).rev().map(Some).collect();
    let halves = [&keys[..35_000], &keys[35_000..]];
    let batches = halves.iter().map(|half| batch(vec![("k", int64(half))])).collect();
    let config = r#"{"tables": [{"name": "t", "group_by": ["k"], "aggregates": [{"column": "k", "fn": "count"}]}]}"#;
    let run = aggregate(config, batches).unwrap();
    let sizes: Vec<usize> = run.batches("t").iter().map(RecordBatch::num_rows).collect();
    assert_eq!(sizes, [65_536, 4_464]);
    let keys: Vec<i64> = run
        .batches("t")
        .iter()
        .flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec())
        .collect();
    assert_eq!(keys, (0..70_000).collect::<Vec<i64>>());
    assert_eq!(run.metric("groups.t"), Some(70_000));
}

#[test]
fn ports_are_in_and_one_output_per_table() {
    let harness = Harness::<Aggregate>::open(SALES).unwrap();
    let inputs: Vec<&str> = harness.ports().inputs.iter().map(|p| p.name.as_str()).collect();
    let outputs: Vec<&str> = harness.ports().outputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!((inputs, outputs), (vec!["in"], vec!["daily_sales", "customer_summary"]));
    assert_eq!(
        harness.ports().outputs[0].description,
        "per order_date, category: total_amount_sum, total_amount_avg, total_amount_count, quantity_sum"
    );
}

// ---- refusals ----

#[test]
fn bad_configs_are_refused_naming_the_key() {
    let table = |body: &str| format!(r#"{{"tables": [{{"name": "t", {body}}}]}}"#);
    let cases = [
        (r#"{"tables": []}"#.to_owned(), "tables: give at least one table"),
        ("{}".to_owned(), "missing field `tables` at line 1 column 2"),
        (r#"{"tables": [{"name": "", "group_by": [], "aggregates": []}]}"#.to_owned(), "tables[0].name: empty table name"),
        (
            r#"{"tables": [{"name": "daily sales", "group_by": [], "aggregates": []}]}"#.to_owned(),
            "tables[0].name: `daily sales` names an output port; use ASCII letters, digits, `_` and `-`",
        ),
        (
            r#"{"tables": [{"name": "t", "group_by": [], "aggregates": []}, {"name": "t", "group_by": [], "aggregates": []}]}"#.to_owned(),
            "tables[1].name: table `t` is already defined by tables[0]",
        ),
        (table(r#""aggregates": []"#), "tables[0]: missing field `group_by` at line 1 column 43"),
        (table(r#""group_by": ["a", "b", "a"], "aggregates": []"#), "tables[0].group_by[2]: `a` is listed twice"),
        (
            table(r#""group_by": ["_line"], "aggregates": []"#),
            "tables[0].group_by[0]: `_line` is row metadata (it starts with `_`), which aggregate ignores",
        ),
        (table(r#""group_by": [""], "aggregates": []"#), "tables[0].group_by[0]: empty column name"),
        (
            table(r#""group_by": [], "aggregates": [{"column": "x", "fn": "median"}]"#),
            "tables[0].aggregates[0].fn: unknown variant `median`, expected one of `sum`, `avg`, `count`, `min`, `max` at line 1 column 87",
        ),
        (
            table(r#""group_by": [], "aggregates": [{"column": "_offset", "fn": "sum"}]"#),
            "tables[0].aggregates[0].column: `_offset` is row metadata (it starts with `_`), which aggregate ignores",
        ),
        (
            table(r#""group_by": [], "aggregates": [{"column": "x", "fn": "sum", "as": ""}]"#),
            "tables[0].aggregates[0].as: empty column name",
        ),
        (
            table(r#""group_by": [], "aggregates": [{"column": "x", "fn": "sum"}, {"column": "x", "fn": "sum"}]"#),
            "tables[0].aggregates[1]: output column `x_sum` is already made by aggregates[0]; name one with `as`",
        ),
        (
            table(r#""group_by": ["x_sum"], "aggregates": [{"column": "x", "fn": "sum"}]"#),
            "tables[0].aggregates[0]: output column `x_sum` is also a group_by column",
        ),
        (
            table(r#""group_by": [], "aggregates": [{"column": "x", "fn": "sum", "alias": "y"}]"#),
            "tables[0].aggregates[0].alias: unknown field `alias`, expected one of `column`, `fn`, `as` at line 1 column 93",
        ),
    ];
    for (config, message) in cases {
        assert_eq!(aggregate(&config, vec![]).unwrap_err(), Error::config(message), "{config}");
    }
}

#[test]
fn missing_and_mistyped_columns_are_named() {
    let attempt = |config: &str, batches: Vec<RecordBatch>| aggregate(config, batches).map(|_| ()).unwrap_err();
    let without_category = orders()[0].project(&[0, 1, 3, 4, 5, 6, 7]).unwrap();
    assert_eq!(
        attempt(SALES, vec![without_category]),
        Error::input("table `daily_sales`: missing required column `category`")
    );

    let floats = batch(vec![("x", Arc::new(Float64Array::from(vec![1.5])) as ArrayRef), ("s", utf8(&[Some("a")]))]);
    let one = |group_by: &str, aggregates: &str| {
        format!(r#"{{"tables": [{{"name": "t", "group_by": {group_by}, "aggregates": {aggregates}}}]}}"#)
    };
    assert_eq!(
        attempt(&one(r#"["x"]"#, "[]"), vec![floats.clone()]),
        Error::input(
            "table `t`: group_by column `x` has type Float64; groups are made of Utf8, Int32, Int64, Date32 or Decimal128 columns"
        )
    );
    assert_eq!(
        attempt(&one("[]", r#"[{"column": "s", "fn": "sum"}]"#), vec![floats.clone()]),
        Error::input("table `t`: column `s` has type Utf8; `sum` needs Int32, Int64 or Decimal128 (for `s_sum`)")
    );
    assert_eq!(
        attempt(&one("[]", r#"[{"column": "x", "fn": "max", "as": "top"}]"#), vec![floats.clone()]),
        Error::input(
            "table `t`: column `x` has type Float64; `max` needs Utf8, Int32, Int64, Date32 or Decimal128 (for `top`)"
        )
    );
    assert_eq!(
        attempt(&one("[]", r#"[{"column": "y", "fn": "count"}]"#), vec![floats.clone()]),
        Error::input("table `t`: missing required column `y`")
    );
    let wide_scale = batch(vec![("v", decimal(&[Some(1)], 38, 20))]);
    assert_eq!(
        attempt(&one("[]", r#"[{"column": "v", "fn": "avg"}]"#), vec![wide_scale]),
        Error::input(
            "table `t`: column `v` has scale 20; `avg` gives decimal(18, scale) for scales 0 to 18 (for `v_avg`)"
        )
    );

    // `count` takes a column of any type; later batches must keep the types of the first.
    let run = aggregate(&one("[]", r#"[{"column": "x", "fn": "count"}]"#), vec![floats]).unwrap();
    assert_eq!(run.rows("t"), 1);
    let retyped = batch(vec![("g", utf8(&[Some("a")])), ("v", decimal(&[Some(1)], 10, 2))]);
    let first = batch(vec![("g", utf8(&[Some("a")])), ("v", money(&[Some(1)]))]);
    assert_eq!(
        attempt(&one(r#"["g"]"#, r#"[{"column": "v", "fn": "sum"}]"#), vec![first, retyped]),
        Error::input("table `t`: column `v` has type Decimal128(10, 2), expected Decimal128(18, 2)")
    );
}
