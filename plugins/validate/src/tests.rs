//! The validate stage run natively through the SDK's harness, outputs compared as tables.

use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::types::Int32Type;
use etl_sdk::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, ListArray, StringArray,
};
use etl_sdk::arrow::schema::DataType;
use etl_sdk::testing::{Run, batch, run};
use etl_sdk::{Error, Result};

use crate::Validate;
use crate::bound::parse_date;

fn utf8(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn int64(values: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

/// Decimal(10, 2) values written as text: `"12.30"`.
fn money(values: &[Option<&str>]) -> ArrayRef {
    let cents = values.iter().map(|value| {
        value.map(|text| {
            let (units, cents) = text.split_once('.').unwrap();
            let sign = if units.starts_with('-') { -1 } else { 1 };
            units.parse::<i128>().unwrap() * 100 + sign * cents.parse::<i128>().unwrap()
        })
    });
    Arc::new(Decimal128Array::from_iter(cents).with_precision_and_scale(10, 2).unwrap())
}

fn dates(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(Date32Array::from(values.iter().map(|v| v.map(|v| parse_date(v).unwrap())).collect::<Vec<_>>()))
}

fn validate(config: &str, batches: Vec<RecordBatch>) -> Result<Run> {
    run::<Validate>(config, [("in", batches)])
}

fn table(lines: &[&str]) -> String {
    lines.join("\n")
}

/// Orders as the host ingests them: `_line`/`_offset` metadata around the data columns.
fn orders() -> RecordBatch {
    batch(vec![
        ("_line", int64(&[Some(2), Some(3), Some(4), Some(5), Some(6)])),
        ("order_id", utf8(&[Some("o1"), Some("o2"), None, Some("o4"), Some("o5")])),
        ("customer_id", utf8(&[Some("c1"), None, Some("c3"), Some("c4"), Some(" ")])),
        ("quantity", int64(&[Some(1), Some(0), Some(1001), None, Some(1000)])),
        ("unit_price", money(&[Some("9.99"), Some("0.01"), Some("0.00"), Some("100000.00"), Some("100000.01")])),
        ("_offset", int64(&[Some(40), Some(80), Some(120), Some(160), Some(200)])),
    ])
}

const ORDER_RULES: &str = r#"{"rules": [
    {"rule": "not_null", "column": "order_id"},
    {"rule": "not_null", "column": "customer_id"},
    {"rule": "in_range", "column": "quantity", "min": 1, "max": 1000},
    {"rule": "in_range", "column": "unit_price", "min": "0.01", "max": "100000"}
]}"#;

#[test]
fn routes_failing_rows_with_every_failed_rule_in_config_order() {
    let run = validate(ORDER_RULES, vec![orders()]).unwrap();
    assert_eq!(
        run.pretty("valid"),
        table(&[
            "+-------+----------+-------------+----------+------------+---------+",
            "| _line | order_id | customer_id | quantity | unit_price | _offset |",
            "+-------+----------+-------------+----------+------------+---------+",
            "| 2     | o1       | c1          | 1        | 9.99       | 40      |",
            "+-------+----------+-------------+----------+------------+---------+",
        ])
    );
    assert_eq!(
        run.pretty("rejected"),
        table(&[
            "+-------+----------+-------------+----------+------------+---------+------------------------------------------------------------+----------+",
            "| _line | order_id | customer_id | quantity | unit_price | _offset | _reasons                                                   | _message |",
            "+-------+----------+-------------+----------+------------+---------+------------------------------------------------------------+----------+",
            "| 3     | o2       |             | 0        | 0.01       | 80      | not_null(customer_id);in_range(quantity)                   |          |",
            "| 4     |          | c3          | 1001     | 0.00       | 120     | not_null(order_id);in_range(quantity);in_range(unit_price) |          |",
            "| 5     | o4       | c4          |          | 100000.00  | 160     | in_range(quantity)                                         |          |",
            "| 6     | o5       |             | 1000     | 100000.01  | 200     | in_range(unit_price)                                       |          |",
            "+-------+----------+-------------+----------+------------+---------+------------------------------------------------------------+----------+",
        ])
    );
    let metrics: Vec<(&str, i64)> = run.metrics.iter().map(|m| (m.name.as_str(), m.value)).collect();
    assert_eq!(
        metrics,
        [
            ("rows_in", 5),
            ("rows_valid", 1),
            ("rows_rejected", 4),
            ("failures.not_null(order_id)", 1),
            ("failures.not_null(customer_id)", 1),
            ("failures.in_range(quantity)", 3),
            ("failures.in_range(unit_price)", 2),
        ]
    );
}

#[test]
fn rejected_rows_keep_every_input_column_and_type_then_reasons_and_message() {
    let run = validate(ORDER_RULES, vec![orders()]).unwrap();
    let schema = run.batches("rejected")[0].schema();
    let columns: Vec<(&str, &DataType, bool)> =
        schema.fields().iter().map(|f| (f.name().as_str(), f.data_type(), f.is_nullable())).collect();
    assert_eq!(
        columns,
        [
            ("_line", &DataType::Int64, false),
            ("order_id", &DataType::Utf8, true),
            ("customer_id", &DataType::Utf8, true),
            ("quantity", &DataType::Int64, true),
            ("unit_price", &DataType::Decimal128(10, 2), false),
            ("_offset", &DataType::Int64, false),
            ("_reasons", &DataType::Utf8, false),
            ("_message", &DataType::Utf8, true),
        ]
    );
    assert_eq!(run.batches("valid")[0].schema(), orders().schema());
}

#[test]
fn a_batch_without_failures_passes_through_as_is() {
    let clean = orders().slice(0, 1);
    let run = validate(ORDER_RULES, vec![clean.clone()]).unwrap();
    assert_eq!(run.batches("valid"), &[clean]);
    assert!(run.batches("rejected").is_empty());
}

#[test]
fn decimal_bounds_are_exact_at_the_column_scale() {
    let prices = batch(vec![(
        "unit_price",
        money(&[
            Some("0.00"),
            Some("0.01"),
            Some("99999.99"),
            Some("100000.00"),
            Some("100000.01"),
            Some("-5.00"),
            None,
        ]),
    )]);
    // A number, a float and a string bound all mean the same exact decimal.
    for (min, max) in [(r#""0.01""#, r#""100000""#), ("0.01", "100000"), ("0.01", "100000.0"), (r#""0.010""#, "1e5")] {
        let config =
            format!(r#"{{"rules": [{{"rule": "in_range", "column": "unit_price", "min": {min}, "max": {max}}}]}}"#);
        let run = validate(&config, vec![prices.clone()]).unwrap();
        assert_eq!(
            run.pretty("valid"),
            table(&[
                "+------------+",
                "| unit_price |",
                "+------------+",
                "| 0.01       |",
                "| 99999.99   |",
                "| 100000.00  |",
                "+------------+",
            ]),
            "min {min}, max {max}"
        );
        assert_eq!(run.metric("failures.in_range(unit_price)"), Some(4));
    }
}

#[test]
fn bounds_with_more_decimals_than_the_scale_compare_exactly() {
    let prices = batch(vec![("unit_price", money(&[Some("0.00"), Some("0.01"), Some("99.99"), Some("100.00")]))]);
    let config = r#"{"rules": [{"rule": "in_range", "column": "unit_price", "min": "0.005", "max": "99.999"}]}"#;
    let run = validate(config, vec![prices]).unwrap();
    assert_eq!(
        run.pretty("valid"),
        table(&[
            "+------------+",
            "| unit_price |",
            "+------------+",
            "| 0.01       |",
            "| 99.99      |",
            "+------------+"
        ])
    );
    assert_eq!(
        run.pretty("rejected"),
        table(&[
            "+------------+----------------------+----------+",
            "| unit_price | _reasons             | _message |",
            "+------------+----------------------+----------+",
            "| 0.00       | in_range(unit_price) |          |",
            "| 100.00     | in_range(unit_price) |          |",
            "+------------+----------------------+----------+",
        ])
    );
}

#[test]
fn integer_ranges_are_exact_with_either_bound_optional() {
    let numbers = batch(vec![
        ("n64", int64(&[Some(i64::MIN), Some(1), Some(2), Some(3), None])),
        ("n32", Arc::new(Int32Array::from(vec![Some(-1), Some(7), Some(6), Some(i32::MAX), Some(5)])) as ArrayRef),
    ]);
    // 1.5 on an integer column: 1 is below it, 2 is not.
    let config = r#"{"rules": [
        {"rule": "in_range", "column": "n64", "min": 1.5},
        {"rule": "in_range", "column": "n32", "max": "6.99"}
    ]}"#;
    let run = validate(config, vec![numbers]).unwrap();
    assert_eq!(
        run.pretty("rejected"),
        table(&[
            "+----------------------+------------+-----------------------------+----------+",
            "| n64                  | n32        | _reasons                    | _message |",
            "+----------------------+------------+-----------------------------+----------+",
            "| -9223372036854775808 | -1         | in_range(n64)               |          |",
            "| 1                    | 7          | in_range(n64);in_range(n32) |          |",
            "| 3                    | 2147483647 | in_range(n32)               |          |",
            "|                      | 5          | in_range(n64)               |          |",
            "+----------------------+------------+-----------------------------+----------+",
        ])
    );
    assert_eq!(
        run.pretty("valid"),
        table(&["+-----+-----+", "| n64 | n32 |", "+-----+-----+", "| 2   | 6   |", "+-----+-----+"])
    );
}

#[test]
fn date_ranges_take_iso_dates() {
    let days = batch(vec![(
        "order_date",
        dates(&[Some("2022-12-31"), Some("2023-01-01"), Some("2024-12-31"), Some("2025-01-01"), None]),
    )]);
    let config =
        r#"{"rules": [{"rule": "in_range", "column": "order_date", "min": "2023-01-01", "max": "2024-12-31"}]}"#;
    let run = validate(config, vec![days]).unwrap();
    assert_eq!(
        run.pretty("valid"),
        table(&[
            "+------------+",
            "| order_date |",
            "+------------+",
            "| 2023-01-01 |",
            "| 2024-12-31 |",
            "+------------+"
        ])
    );
    assert_eq!(run.metric("failures.in_range(order_date)"), Some(3));
}

#[test]
fn float_ranges_compare_as_floats_and_nan_fails() {
    let floats = batch(vec![(
        "ratio",
        Arc::new(Float64Array::from(vec![Some(-0.1), Some(0.0), Some(0.5), Some(1.0), Some(f64::NAN), None]))
            as ArrayRef,
    )]);
    let run =
        validate(r#"{"rules": [{"rule": "in_range", "column": "ratio", "min": 0, "max": 1}]}"#, vec![floats]).unwrap();
    assert_eq!(
        run.pretty("valid"),
        table(&["+-------+", "| ratio |", "+-------+", "| 0.0   |", "| 0.5   |", "| 1.0   |", "+-------+"])
    );
}

#[test]
fn accepted_values_compare_exactly_and_null_fails() {
    let regions = batch(vec![("region", utf8(&[Some("north"), Some("North"), Some(" south"), Some("south"), None]))]);
    let config = r#"{"rules": [{"rule": "accepted_values", "column": "region", "values": ["north", "south"]}]}"#;
    let run = validate(config, vec![regions]).unwrap();
    assert_eq!(
        run.pretty("valid"),
        table(&["+--------+", "| region |", "+--------+", "| north  |", "| south  |", "+--------+"])
    );
    assert_eq!(
        run.pretty("rejected"),
        table(&[
            "+--------+-------------------------+----------+",
            "| region | _reasons                | _message |",
            "+--------+-------------------------+----------+",
            "| North  | accepted_values(region) |          |",
            "|  south | accepted_values(region) |          |",
            "|        | accepted_values(region) |          |",
            "+--------+-------------------------+----------+",
        ])
    );
}

#[test]
fn regex_searches_and_null_fails() {
    let emails = batch(vec![("email", utf8(&[Some("a@b.example"), Some("nobody"), Some("x@y@z"), Some(""), None]))]);
    let config = r#"{"rules": [{"rule": "regex", "column": "email", "pattern": "^[^@]+@[^@]+$"}]}"#;
    let run = validate(config, vec![emails]).unwrap();
    assert_eq!(
        run.pretty("valid"),
        table(&["+-------------+", "| email       |", "+-------------+", "| a@b.example |", "+-------------+"])
    );
    assert_eq!(run.metric("failures.regex(email)"), Some(4));
}

#[test]
fn not_null_fails_only_on_null() {
    let ids = batch(vec![("id", utf8(&[Some(""), Some(" "), None, Some("x")]))]);
    let run = validate(r#"{"rules": [{"rule": "not_null", "column": "id"}]}"#, vec![ids]).unwrap();
    assert_eq!(run.rows("valid"), 3);
    assert_eq!(run.rows("rejected"), 1);
}

#[test]
fn unique_fails_later_repeats_across_batches_but_never_nulls() {
    let first = batch(vec![
        ("_line", int64(&[Some(2), Some(3), Some(4), Some(5)])),
        ("order_id", utf8(&[Some("o1"), Some("o2"), Some("o1"), None])),
    ]);
    let second = batch(vec![
        ("_line", int64(&[Some(6), Some(7), Some(8)])),
        ("order_id", utf8(&[Some("o2"), None, Some("o3")])),
    ]);
    let run = validate(r#"{"rules": [{"rule": "unique", "column": "order_id"}]}"#, vec![first, second]).unwrap();
    assert_eq!(
        run.pretty("valid"),
        table(&[
            "+-------+----------+",
            "| _line | order_id |",
            "+-------+----------+",
            "| 2     | o1       |",
            "| 3     | o2       |",
            "| 5     |          |",
            "| 7     |          |",
            "| 8     | o3       |",
            "+-------+----------+",
        ])
    );
    assert_eq!(
        run.pretty("rejected"),
        table(&[
            "+-------+----------+------------------+----------+",
            "| _line | order_id | _reasons         | _message |",
            "+-------+----------+------------------+----------+",
            "| 4     | o1       | unique(order_id) |          |",
            "| 6     | o2       | unique(order_id) |          |",
            "+-------+----------+------------------+----------+",
        ])
    );
}

#[test]
fn unique_works_on_integer_columns() {
    let ids = batch(vec![("id", int64(&[Some(1), Some(2), Some(1), Some(-1), Some(2)]))]);
    let run = validate(r#"{"rules": [{"rule": "unique", "column": "id"}]}"#, vec![ids]).unwrap();
    assert_eq!(run.pretty("rejected").lines().filter(|l| l.contains("unique(id)")).count(), 2);
    assert_eq!(run.metric("failures.unique(id)"), Some(2));
}

#[test]
fn warn_rules_only_count() {
    let config = r#"{"rules": [
        {"rule": "not_null", "column": "customer_id", "severity": "warn"},
        {"rule": "in_range", "column": "quantity", "min": 1, "max": 1000, "severity": "error"},
        {"rule": "in_range", "column": "unit_price", "min": "0.01", "max": "100000", "severity": "warn"}
    ]}"#;
    let run = validate(config, vec![orders()]).unwrap();
    assert_eq!(
        run.pretty("rejected"),
        table(&[
            "+-------+----------+-------------+----------+------------+---------+--------------------+----------+",
            "| _line | order_id | customer_id | quantity | unit_price | _offset | _reasons           | _message |",
            "+-------+----------+-------------+----------+------------+---------+--------------------+----------+",
            "| 3     | o2       |             | 0        | 0.01       | 80      | in_range(quantity) |          |",
            "| 4     |          | c3          | 1001     | 0.00       | 120     | in_range(quantity) |          |",
            "| 5     | o4       | c4          |          | 100000.00  | 160     | in_range(quantity) |          |",
            "+-------+----------+-------------+----------+------------+---------+--------------------+----------+",
        ])
    );
    assert_eq!(run.metric("rows_valid"), Some(2));
    assert_eq!(run.metric("failures.not_null(customer_id)"), Some(1));
    assert_eq!(run.metric("failures.in_range(unit_price)"), Some(2));

    let all_warn = r#"{"rules": [{"rule": "not_null", "column": "order_id", "severity": "warn"}]}"#;
    let run = validate(all_warn, vec![orders()]).unwrap();
    assert_eq!(run.batches("valid"), &[orders()]);
    assert_eq!((run.metric("rows_rejected"), run.metric("failures.not_null(order_id)")), (Some(0), Some(1)));
}

#[test]
fn empty_batches_and_many_batches() {
    let empty = orders().slice(0, 0);
    let batches = vec![empty.clone(), orders(), empty.clone(), orders().slice(1, 2), empty];
    let run = validate(ORDER_RULES, batches).unwrap();
    assert_eq!(run.batches("valid").len(), 5);
    assert_eq!((run.rows("valid"), run.rows("rejected")), (1, 6));
    assert_eq!(
        (run.metric("rows_in"), run.metric("rows_valid"), run.metric("rows_rejected")),
        (Some(7), Some(1), Some(6))
    );
    assert_eq!(run.metric("failures.in_range(quantity)"), Some(5));

    let nothing = validate(ORDER_RULES, vec![]).unwrap();
    assert_eq!(nothing.metric("rows_in"), Some(0));
}

#[test]
fn refuses_bad_configs_naming_the_key() {
    let cases = [
        (
            r#"{"rules": [{"rule": "nope", "column": "a"}]}"#,
            "rules[0].rule: unknown variant `nope`, expected one of `not_null`, `in_range`, `accepted_values`, `regex`, `unique` at line 1 column 26",
        ),
        (r#"{"rules": [{"rule": "not_null"}]}"#, "rules[0]: missing field `column` at line 1 column 32"),
        (
            r#"{"rules": [{"rule": "not_null", "column": "a", "colour": 1}]}"#,
            "rules[0]: unknown field `colour`, expected `column` or `severity` at line 1 column 60",
        ),
        (
            r#"{"rules": [{"rule": "not_null", "column": "a", "severity": "fatal"}]}"#,
            "rules[0]: unknown variant `fatal`, expected `error` or `warn` at line 1 column 68",
        ),
        (r#"{"rules": []}"#, "rules: empty; list at least one rule"),
        ("{}", "missing field `rules` at line 1 column 2"),
        (
            r#"{"rules": [{"rule": "not_null", "column": "a"}, {"rule": "unique", "column": ""}]}"#,
            "rules[1].column: empty",
        ),
        (
            r#"{"rules": [{"rule": "not_null", "column": "_line"}]}"#,
            "rules[0].column: `_line` is row metadata (a name starting with `_`), which is never validated",
        ),
        (
            r#"{"rules": [{"rule": "in_range", "column": "a", "min": 1}, {"rule": "in_range", "column": "a", "max": true}]}"#,
            r#"rules[1].max: must be a number (e.g. 1000 or "0.01") or an ISO date ("2024-01-31"), got true"#,
        ),
        (
            r#"{"rules": [{"rule": "in_range", "column": "a", "min": "abc", "max": [1]}]}"#,
            r#"rules[0].min: must be a number (e.g. 1000 or "0.01") or an ISO date ("2024-01-31"), got "abc"; rules[0].max: must be a number (e.g. 1000 or "0.01") or an ISO date ("2024-01-31"), got a list"#,
        ),
        (
            r#"{"rules": [{"rule": "in_range", "column": "a", "min": "2023-02-29"}]}"#,
            r#"rules[0].min: "2023-02-29" is not a valid date"#,
        ),
        (r#"{"rules": [{"rule": "in_range", "column": "a"}]}"#, "rules[0]: in_range needs `min`, `max` or both"),
        (
            r#"{"rules": [{"rule": "in_range", "column": "a", "min": "1.50", "max": 1.25}]}"#,
            "rules[0]: `min` (1.5) is greater than `max` (1.25)",
        ),
        (
            r#"{"rules": [{"rule": "in_range", "column": "a", "min": "2024-01-02", "max": "2024-01-01"}]}"#,
            "rules[0]: `min` (2024-01-02) is greater than `max` (2024-01-01)",
        ),
        (
            r#"{"rules": [{"rule": "in_range", "column": "a", "min": 1, "max": "2024-01-01"}]}"#,
            "rules[0]: `min` and `max` must both be numbers or both be dates",
        ),
        (
            r#"{"rules": [{"rule": "accepted_values", "column": "a", "values": []}]}"#,
            "rules[0].values: empty; list the accepted values",
        ),
        (
            r#"{"rules": [{"rule": "regex", "column": "a", "pattern": "("}]}"#,
            "rules[0].pattern: invalid regex: regex parse error:\n    (\n    ^\nerror: unclosed group",
        ),
        (
            r#"{"rules": [{"rule": "not_null", "column": "a"}, {"rule": "not_null", "column": "a", "severity": "warn"}]}"#,
            "rules[1]: repeats rules[0] (`not_null(a)`): each rule may check a column once",
        ),
        // Every problem at once.
        (
            r#"{"rules": [{"rule": "not_null", "column": ""}, {"rule": "regex", "column": "_x", "pattern": "a"}]}"#,
            "rules[0].column: empty; rules[1].column: `_x` is row metadata (a name starting with `_`), which is never validated",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(validate(config, vec![]).unwrap_err(), Error::config(expected), "{config}");
    }
}

#[test]
fn refuses_missing_and_mistyped_input_columns() {
    let cases = [
        (r#"{"rules": [{"rule": "not_null", "column": "region"}]}"#, "missing required column `region`"),
        (
            r#"{"rules": [{"rule": "accepted_values", "column": "quantity", "values": ["1"]}]}"#,
            "column `quantity` has type Int64, expected Utf8",
        ),
        (
            r#"{"rules": [{"rule": "regex", "column": "unit_price", "pattern": "x"}]}"#,
            "column `unit_price` has type Decimal128(10, 2), expected Utf8",
        ),
        (
            r#"{"rules": [{"rule": "in_range", "column": "order_id", "min": 1}]}"#,
            "column `order_id` has type Utf8, expected an integer, decimal (up to Decimal128), float or Date32 column \
             for rules[0] (in_range)",
        ),
        (
            r#"{"rules": [{"rule": "in_range", "column": "quantity", "min": "2024-01-01"}]}"#,
            "column `quantity` has type Int64, but the bounds of rules[0] (in_range) are dates",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(validate(config, vec![orders()]).unwrap_err(), Error::input(expected), "{config}");
    }
    let days = batch(vec![("order_date", dates(&[Some("2024-01-01")]))]);
    assert_eq!(
        validate(r#"{"rules": [{"rule": "in_range", "column": "order_date", "min": 0}]}"#, vec![days]).unwrap_err(),
        Error::input(
            "column `order_date` has type Date32, but the bounds of rules[0] (in_range) are numbers, not ISO dates"
        )
    );
    let floats = batch(vec![("x", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)]);
    assert_eq!(
        validate(r#"{"rules": [{"rule": "unique", "column": "x"}]}"#, vec![floats]).unwrap_err(),
        Error::input("column `x` has type Float64: floating-point values cannot be compared exactly as keys")
    );
}

#[test]
fn refuses_columns_it_cannot_pass_through_or_would_shadow() {
    let list = ListArray::from_iter_primitive::<Int32Type, _, _>([Some([Some(1)])]);
    let nested = batch(vec![("id", utf8(&[Some("a")])), ("tags", Arc::new(list) as ArrayRef)]);
    let Err(Error::InvalidInput(error)) =
        validate(r#"{"rules": [{"rule": "not_null", "column": "id"}]}"#, vec![nested])
    else {
        panic!("expected an input error");
    };
    assert!(error.starts_with("column `tags` has type List("), "{error}");
    assert!(error.ends_with("which this stage cannot pass through (supported: integers, floats, decimals, dates, times, timestamps, durations, intervals, Boolean, Utf8, LargeUtf8, Binary, LargeBinary, Null)"), "{error}");

    let clash = batch(vec![("id", utf8(&[None])), ("_reasons", utf8(&[Some("x")]))]);
    assert_eq!(
        validate(r#"{"rules": [{"rule": "not_null", "column": "id"}]}"#, vec![clash]).unwrap_err(),
        Error::input("input column `_reasons` clashes with the column this stage adds to rejected rows")
    );
}

#[test]
fn describes_itself() {
    let info = <Validate as etl_sdk::Stage>::info();
    let ports = |ports: &[etl_sdk::Port]| ports.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        (ports(&info.inputs), ports(&info.outputs)),
        (vec!["in".to_owned()], vec!["valid".to_owned(), "rejected".to_owned()])
    );
    assert!(info.config_help.contains("rule: in_range, column: unit_price"), "{}", info.config_help);
}
