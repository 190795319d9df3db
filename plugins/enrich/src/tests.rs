//! The stage run natively through the SDK harness, outputs compared as tables.

use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::types::Int64Type;
use etl_sdk::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, LargeStringArray, ListArray,
    StringArray,
};
use etl_sdk::arrow::schema::DataType;
use etl_sdk::testing::{Harness, Run, batch, run};
use etl_sdk::{Error, Result};

use crate::Enrich;

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

/// Days since 1970-01-01 of an ISO date; written independently of `civil_from_days`.
fn days(iso: &str) -> i32 {
    let mut parts = iso.rsplitn(3, '-');
    let d: i64 = parts.next().unwrap().parse().unwrap();
    let m: i64 = parts.next().unwrap().parse().unwrap();
    let y: i64 = parts.next().unwrap().parse().unwrap();
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    i32::try_from(era * 146_097 + day_of_era - 719_468).unwrap()
}

fn dates(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(Date32Array::from(values.iter().map(|v| v.map(days)).collect::<Vec<_>>()))
}

/// `expected` with each line's indentation removed, so tables can sit indented in the test.
fn table(expected: &str) -> String {
    expected.trim().lines().map(str::trim).collect::<Vec<_>>().join("\n")
}

fn enrich(config: &str, inputs: Vec<(&str, Vec<RecordBatch>)>) -> Result<Run> {
    run::<Enrich>(config, inputs)
}

const TOTAL: &str =
    r#"{"derive": [{"name": "total_amount", "multiply": ["quantity", "unit_price"], "type": "decimal(18,2)"}]}"#;

const LOOKUPS: &str = r#"{"lookups": [
    {"port": "products", "key": "product_id", "columns": ["product_name", "category"], "orphan_metric": "orphan_product"},
    {"port": "customers", "key": "customer_id", "columns": ["name", "email", "region"], "orphan_metric": "orphan_customer"}
]}"#;

// ---- derive ----

#[test]
fn exact_products_and_date_parts_with_nulls_old_dates_and_leap_days() {
    let orders = batch(vec![
        ("_line", int64(&[Some(2), Some(3), Some(4), Some(5), Some(6)])),
        ("quantity", int64(&[Some(3), Some(1000), None, Some(2), Some(-2)])),
        ("unit_price", decimal(&[Some(1999), Some(9_999_999_999), Some(500), None, Some(5)], 10, 2)),
        ("order_date", dates(&[Some("2024-02-29"), Some("1969-12-31"), Some("1900-02-28"), None, Some("2023-01-01")])),
    ]);
    let config = r#"{"derive": [
        {"name": "total_amount", "multiply": ["quantity", "unit_price"], "type": "decimal(18,2)"},
        {"date_parts": "order_date", "parts": ["year", "month", "day"]}
    ]}"#;
    let run = enrich(config, vec![("in", vec![orders])]).unwrap();
    assert_eq!(
        run.pretty("out"),
        table(
            "
            +-------+----------+-------------+------------+----------------+-----------------+------------------+----------------+
            | _line | quantity | unit_price  | order_date | total_amount   | order_date_year | order_date_month | order_date_day |
            +-------+----------+-------------+------------+----------------+-----------------+------------------+----------------+
            | 2     | 3        | 19.99       | 2024-02-29 | 59.97          | 2024            | 2                | 29             |
            | 3     | 1000     | 99999999.99 | 1969-12-31 | 99999999990.00 | 1969            | 12               | 31             |
            | 4     |          | 5.00        | 1900-02-28 |                | 1900            | 2                | 28             |
            | 5     | 2        |             |            |                |                 |                  |                |
            | 6     | -2       | 0.05        | 2023-01-01 | -0.10          | 2023            | 1                | 1              |
            +-------+----------+-------------+------------+----------------+-----------------+------------------+----------------+
            "
        )
    );
    let schema = run.batches("out")[0].schema();
    let types: Vec<String> = schema.fields().iter().skip(4).map(|f| f.data_type().to_string()).collect();
    assert_eq!(types, ["Decimal128(18, 2)", "Int32", "Int32", "Int32"]);
    assert_eq!((run.metric("rows_in"), run.metric("rows_out")), (Some(5), Some(5)));
}

#[test]
fn date_parts_default_to_all_three_and_can_be_chosen() {
    let input = batch(vec![("d", dates(&[Some("1600-02-29"), Some("0001-01-01"), Some("1970-01-01")]))]);
    let run = enrich(r#"{"derive": [{"date_parts": "d"}, {"date_parts": "d2", "parts": []}]}"#, vec![]);
    assert_eq!(run.unwrap_err(), Error::config("derive[1].parts: give at least one of year, month, day"));
    let run =
        enrich(r#"{"derive": [{"date_parts": "d", "parts": ["day", "year"]}]}"#, vec![("in", vec![input.clone()])]);
    assert_eq!(
        run.unwrap().pretty("out"),
        table(
            "
            +------------+-------+--------+
            | d          | d_day | d_year |
            +------------+-------+--------+
            | 1600-02-29 | 29    | 1600   |
            | 0001-01-01 | 1     | 1      |
            | 1970-01-01 | 1     | 1970   |
            +------------+-------+--------+
            "
        )
    );
    let run = enrich(r#"{"derive": [{"date_parts": "d"}]}"#, vec![("in", vec![input])]).unwrap();
    let names: Vec<String> = run.batches("out")[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["d", "d_year", "d_month", "d_day"]);
}

#[test]
fn date_parts_agree_with_an_independent_conversion_over_five_millennia_and_at_the_ends_of_date32() {
    let mut expected = Vec::new();
    for year in -500..=4500 {
        for (month, last) in [(1, 31), (2, 28), (3, 31), (6, 30), (12, 31)] {
            for day in [1, last] {
                expected.push((days(&format!("{year}-{month:02}-{day:02}")), (year, month, day)));
            }
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let after_feb_28 = days(&format!("{year}-02-28")) + 1;
        expected.push((after_feb_28, if leap { (year, 2, 29) } else { (year, 3, 1) }));
    }
    expected.extend([(i32::MAX, (5_881_580, 7, 11)), (i32::MIN, (-5_877_641, 6, 23))]);
    let input: ArrayRef = Arc::new(Date32Array::from_iter_values(expected.iter().map(|&(days, _)| days)));
    let run = enrich(r#"{"derive": [{"date_parts": "d"}]}"#, vec![("in", vec![batch(vec![("d", input)])])]).unwrap();
    let part = |name: &str| -> Vec<i32> {
        let column = |batch| etl_sdk::column_as::<Int32Array>(batch, name, &DataType::Int32).unwrap();
        run.batches("out").iter().flat_map(|batch| column(batch).values().iter().copied()).collect()
    };
    let (years, months, day_parts) = (part("d_year"), part("d_month"), part("d_day"));
    assert_eq!(years.len(), expected.len());
    for (row, &(days, civil)) in expected.iter().enumerate() {
        assert_eq!((years[row], months[row], day_parts[row]), civil, "{days}");
    }
}

#[test]
fn decimal_and_integer_products_of_every_kind() {
    let input = batch(vec![
        ("price", decimal(&[Some(150), Some(-101), Some(1)], 10, 2)),
        ("rate", decimal(&[Some(2125), Some(1), None], 5, 3)),
        ("n32", Arc::new(Int32Array::from(vec![7, 0, -1]))),
        ("n64", int64(&[Some(-6), Some(i64::MAX), Some(3)])),
    ]);
    let config = r#"{"derive": [
        {"name": "dec_dec", "multiply": ["price", "rate"], "type": "decimal(20,5)"},
        {"name": "int_int", "multiply": ["n32", "n64"], "type": "int64"},
        {"name": "int_dec", "multiply": ["n64", "price"], "type": "decimal(38,4)"},
        {"name": "dec_int", "multiply": ["price", "n32"], "type": "decimal(12,2)"}
    ]}"#;
    let run = enrich(config, vec![("in", vec![input])]).unwrap();
    assert_eq!(
        run.pretty("out"),
        table(
            "
            +-------+-------+-----+---------------------+----------+---------+---------------------------+---------+
            | price | rate  | n32 | n64                 | dec_dec  | int_int | int_dec                   | dec_int |
            +-------+-------+-----+---------------------+----------+---------+---------------------------+---------+
            | 1.50  | 2.125 | 7   | -6                  | 3.18750  | -42     | -9.0000                   | 10.50   |
            | -1.01 | 0.001 | 0   | 9223372036854775807 | -0.00101 | 0       | -9315605757223323565.0700 | 0.00    |
            | 0.01  |       | -1  | 3                   |          | -3      | 0.0300                    | -0.01   |
            +-------+-------+-----+---------------------+----------+---------+---------------------------+---------+
            "
        )
    );
}

#[test]
fn a_product_beyond_the_declared_precision_fails_naming_value_and_line() {
    let at_bound = batch(vec![
        ("_line", int64(&[Some(5), Some(6)])),
        ("quantity", int64(&[Some(1), Some(-1)])),
        ("unit_price", decimal(&[Some(999_999_999_999_999_999), Some(999_999_999_999_999_999)], 18, 2)),
    ]);
    let run = enrich(TOTAL, vec![("in", vec![at_bound])]).unwrap();
    assert_eq!(
        run.pretty("out"),
        table(
            "
            +-------+----------+---------------------+----------------------+
            | _line | quantity | unit_price          | total_amount         |
            +-------+----------+---------------------+----------------------+
            | 5     | 1        | 9999999999999999.99 | 9999999999999999.99  |
            | 6     | -1       | 9999999999999999.99 | -9999999999999999.99 |
            +-------+----------+---------------------+----------------------+
            "
        )
    );

    let beyond = batch(vec![
        ("_line", int64(&[Some(6), Some(7)])),
        ("quantity", int64(&[Some(1), Some(2)])),
        ("unit_price", decimal(&[Some(100), Some(500_000_000_000_000_000)], 18, 2)),
    ]);
    assert_eq!(
        enrich(TOTAL, vec![("in", vec![beyond.clone()])]).unwrap_err(),
        Error::failed(
            "derive `total_amount`: 2 × 5000000000000000.00 = 10000000000000000.00 does not fit decimal(18,2) (line 7)"
        )
    );
    let without_lines = beyond.project(&[1, 2]).unwrap();
    assert_eq!(
        enrich(TOTAL, vec![("in", vec![without_lines])]).unwrap_err(),
        Error::failed(
            "derive `total_amount`: 2 × 5000000000000000.00 = 10000000000000000.00 does not fit decimal(18,2) \
             (row 1 of the batch)"
        )
    );
}

#[test]
fn products_beyond_i128_and_int64_fail_instead_of_wrapping() {
    let big = 10i128.pow(37);
    let input = batch(vec![("a", decimal(&[Some(big)], 38, 0)), ("b", decimal(&[Some(big)], 38, 0))]);
    let config = r#"{"derive": [{"name": "p", "multiply": ["a", "b"], "type": "decimal(38,0)"}]}"#;
    assert_eq!(
        enrich(config, vec![("in", vec![input])]).unwrap_err(),
        Error::failed(format!(
            "derive `p`: {big} × {big} = a value beyond 38 digits does not fit decimal(38,0) (row 0 of the batch)"
        ))
    );

    let input = batch(vec![("a", int64(&[Some(i64::MAX)])), ("b", int64(&[Some(2)]))]);
    let config = r#"{"derive": [{"name": "p", "multiply": ["a", "b"], "type": "int64"}]}"#;
    assert_eq!(
        enrich(config, vec![("in", vec![input])]).unwrap_err(),
        Error::failed(
            "derive `p`: 9223372036854775807 × 2 = 18446744073709551614 does not fit int64 (row 0 of the batch)"
        )
    );
}

#[test]
fn a_rescale_that_would_drop_digits_is_refused() {
    let input = batch(vec![("price", decimal(&[Some(150)], 10, 2)), ("rate", decimal(&[Some(1)], 10, 2))]);
    let config = r#"{"derive": [{"name": "p", "multiply": ["price", "rate"], "type": "decimal(18,2)"}]}"#;
    assert_eq!(
        enrich(config, vec![("in", vec![input])]).unwrap_err(),
        Error::input(
            "derive `p`: `price` × `rate` has scale 4, more than the 2 of decimal(18,2); rescaling would lose digits"
        )
    );
}

// ---- lookups ----

fn products() -> Vec<RecordBatch> {
    let names = ["product_id", "product_name", "category"];
    let first = [
        utf8(&[Some("P1"), Some("P2"), None]),
        utf8(&[Some("Pen"), Some("Pad"), Some("Ghost")]),
        utf8(&[Some("Office"), Some("Office"), Some("X")]),
    ];
    let second = [
        utf8(&[Some("P3"), Some("P1")]),
        utf8(&[Some("Mug"), Some("Pen v2")]),
        utf8(&[Some("Kitchen"), Some("Office")]),
    ];
    let empty = [utf8(&[]), utf8(&[]), utf8(&[])];
    [first, second, empty].into_iter().map(|columns| batch(names.into_iter().zip(columns))).collect()
}

fn customers() -> Vec<RecordBatch> {
    vec![batch(vec![
        ("customer_id", utf8(&[Some("C1"), Some("C2")])),
        ("name", utf8(&[Some("Ann"), Some("Bob")])),
        ("email", utf8(&[Some("ann@example.com"), None])),
        ("region", utf8(&[Some("EU"), Some("US")])),
        ("signup_date", dates(&[Some("2020-01-01"), Some("2021-06-30")])),
    ])]
}

fn orders() -> Vec<RecordBatch> {
    vec![
        batch(vec![
            ("_line", int64(&[Some(2), Some(3), Some(4)])),
            ("order_id", utf8(&[Some("O1"), Some("O2"), Some("O3")])),
            ("customer_id", utf8(&[Some("C1"), Some("C2"), None])),
            ("product_id", utf8(&[Some("P1"), Some("P3"), Some("P2")])),
        ]),
        batch(vec![
            ("_line", int64(&[])),
            ("order_id", utf8(&[])),
            ("customer_id", utf8(&[])),
            ("product_id", utf8(&[])),
        ]),
        batch(vec![
            ("_line", int64(&[Some(5), Some(6)])),
            ("order_id", utf8(&[Some("O4"), Some("O5")])),
            ("customer_id", utf8(&[Some("C9"), Some("C1")])),
            ("product_id", utf8(&[None, Some("P404")])),
        ]),
    ]
}

#[test]
fn left_joins_lookups_that_arrive_in_several_batches_first_row_wins() {
    let run = enrich(LOOKUPS, vec![("in", orders()), ("customers", customers()), ("products", products())]).unwrap();
    assert_eq!(
        run.pretty("out"),
        table(
            "
            +-------+----------+-------------+------------+--------------+----------+------+-----------------+--------+
            | _line | order_id | customer_id | product_id | product_name | category | name | email           | region |
            +-------+----------+-------------+------------+--------------+----------+------+-----------------+--------+
            | 2     | O1       | C1          | P1         | Pen          | Office   | Ann  | ann@example.com | EU     |
            | 3     | O2       | C2          | P3         | Mug          | Kitchen  | Bob  |                 | US     |
            | 4     | O3       |             | P2         | Pad          | Office   |      |                 |        |
            | 5     | O4       | C9          |            |              |          |      |                 |        |
            | 6     | O5       | C1          | P404       |              |          | Ann  | ann@example.com | EU     |
            +-------+----------+-------------+------------+--------------+----------+------+-----------------+--------+
            "
        )
    );
    // One output batch per input batch, the empty one included.
    let rows: Vec<usize> = run.batches("out").iter().map(RecordBatch::num_rows).collect();
    assert_eq!(rows, [3, 0, 2]);
    let metrics: Vec<(&str, i64)> = run.metrics.iter().map(|m| (m.name.as_str(), m.value)).collect();
    assert_eq!(
        metrics,
        [
            ("rows_in", 5),
            ("rows_out", 5),
            ("orphan_product", 2),
            ("lookup_rows.products", 5),
            ("lookup_duplicate_keys.products", 1),
            ("orphan_customer", 2),
            ("lookup_rows.customers", 2),
            ("lookup_duplicate_keys.customers", 0),
        ]
    );
}

#[test]
fn lookup_columns_keep_their_types_and_the_lookup_key_may_differ() {
    let dimension = batch(vec![
        ("id", utf8(&[Some("C1"), Some("C2")])),
        ("signup_date", dates(&[Some("1965-03-01"), None])),
        ("credit", decimal(&[Some(-12_345), Some(7)], 10, 2)),
        ("active", Arc::new(BooleanArray::from(vec![Some(true), Some(false)]))),
        ("visits", int64(&[Some(3), None])),
    ]);
    let facts = batch(vec![("customer_id", utf8(&[Some("C2"), Some("C1"), Some("C3")]))]);
    let config = r#"{"lookups": [{"port": "dim", "key": "customer_id", "lookup_key": "id",
        "columns": ["signup_date", "credit", "active", "visits"]}]}"#;
    let run = enrich(config, vec![("dim", vec![dimension]), ("in", vec![facts])]).unwrap();
    assert_eq!(
        run.pretty("out"),
        table(
            "
            +-------------+-------------+---------+--------+--------+
            | customer_id | signup_date | credit  | active | visits |
            +-------------+-------------+---------+--------+--------+
            | C2          |             | 0.07    | false  |        |
            | C1          | 1965-03-01  | -123.45 | true   | 3      |
            | C3          |             |         |        |        |
            +-------------+-------------+---------+--------+--------+
            "
        )
    );
    let schema = run.batches("out")[0].schema();
    let types: Vec<String> = schema.fields().iter().map(|f| f.data_type().to_string()).collect();
    assert_eq!(types, ["Utf8", "Date32", "Decimal128(10, 2)", "Boolean", "Int64"]);
    assert_eq!(run.metric("orphan_dim"), Some(1));
    assert_eq!(run.metric("lookup_rows.dim"), Some(2));
}

#[test]
fn derived_then_lookup_columns_follow_the_input_columns() {
    let input = batch(vec![
        ("_line", int64(&[Some(2)])),
        ("product_id", utf8(&[Some("P3")])),
        ("quantity", int64(&[Some(2)])),
        ("unit_price", decimal(&[Some(1050)], 10, 2)),
        ("_offset", int64(&[Some(40)])),
    ]);
    let config = r#"{
        "lookups": [{"port": "products", "key": "product_id", "columns": ["category"]}],
        "derive": [{"name": "total_amount", "multiply": ["quantity", "unit_price"], "type": "decimal(18,2)"}]
    }"#;
    let run = enrich(config, vec![("products", products()), ("in", vec![input])]).unwrap();
    assert_eq!(
        run.pretty("out"),
        table(
            "
            +-------+------------+----------+------------+---------+--------------+----------+
            | _line | product_id | quantity | unit_price | _offset | total_amount | category |
            +-------+------------+----------+------------+---------+--------------+----------+
            | 2     | P3         | 2        | 10.50      | 40      | 21.00        | Kitchen  |
            +-------+------------+----------+------------+---------+--------------+----------+
            "
        )
    );
}

#[test]
fn ports_are_the_lookups_in_config_order_then_in() {
    let harness = Harness::<Enrich>::open(LOOKUPS).unwrap();
    let inputs: Vec<&str> = harness.ports().inputs.iter().map(|p| p.name.as_str()).collect();
    let outputs: Vec<&str> = harness.ports().outputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!((inputs, outputs), (vec!["products", "customers", "in"], vec!["out"]));
    let info = <Enrich as etl_sdk::Stage>::info();
    assert!(info.config_help.contains("multiply: [quantity, unit_price]"), "{}", info.config_help);
}

#[test]
fn without_config_rows_pass_through() {
    let run = enrich("", vec![("in", orders())]).unwrap();
    let columns = |batches: &[RecordBatch]| batches.iter().map(|b| b.columns().to_vec()).collect::<Vec<_>>();
    assert_eq!(columns(run.batches("out")), columns(&orders()));
    // Every output column is nullable: the first batch's "not nullable" need not hold for the next.
    assert!(run.batches("out")[0].schema().fields().iter().all(|f| f.is_nullable()));
}

#[test]
fn lookup_rows_after_in_rows_are_refused() {
    let mut harness = Harness::<Enrich>::open(LOOKUPS).unwrap();
    harness.push("products", products().remove(0)).unwrap();
    harness.push("customers", customers().remove(0)).unwrap();
    harness.push("in", orders().remove(0)).unwrap();
    assert_eq!(
        harness.push("products", products().remove(1)).unwrap_err(),
        Error::input("lookup port `products` received a batch after rows on `in`; lookups must arrive first")
    );
}

#[test]
fn a_lookup_that_received_nothing_is_an_error() {
    assert_eq!(
        enrich(LOOKUPS, vec![("products", products()), ("in", orders())]).unwrap_err(),
        Error::input(
            "lookup port `customers` received no batch before `in`, so the types of its columns (name, email, region) \
             are unknown; send at least one batch, even an empty one"
        )
    );
}

// ---- refusals ----

#[test]
fn name_clashes_are_refused() {
    let clashes = [
        (
            r#"{"derive": [{"name": "total_amount", "multiply": ["a", "b"], "type": "int64"}],
                "lookups": [{"port": "p", "key": "k", "columns": ["total_amount"]}]}"#,
            "lookups[0].columns[0]: column `total_amount` is already added by derive `total_amount`",
        ),
        (
            r#"{"lookups": [{"port": "a", "key": "k", "columns": ["name"]}, {"port": "b", "key": "k", "columns": ["x", "name"]}]}"#,
            "lookups[1].columns[1]: column `name` is already added by lookup `a`",
        ),
        (
            r#"{"derive": [{"date_parts": "d"}, {"name": "d_month", "multiply": ["a", "b"], "type": "int64"}]}"#,
            "derive[1]: column `d_month` is already added by date_parts of `d`",
        ),
        (
            r#"{"lookups": [{"port": "a", "key": "k", "columns": ["x", "x"]}]}"#,
            "lookups[0].columns[1]: column `x` is already added by lookup `a`",
        ),
    ];
    for (config, message) in clashes {
        assert_eq!(enrich(config, vec![]).unwrap_err(), Error::config(message), "{config}");
    }

    let input = batch(vec![("product_id", utf8(&[Some("P1")])), ("category", utf8(&[Some("old")]))]);
    let config = r#"{"lookups": [{"port": "products", "key": "product_id", "columns": ["product_name", "category"]}]}"#;
    assert_eq!(
        enrich(config, vec![("products", products()), ("in", vec![input])]).unwrap_err(),
        Error::input("column `category` is already in the input on `in`; lookup `products` would add it again")
    );
    let input = batch(vec![("a", int64(&[Some(1)])), ("b", int64(&[Some(1)])), ("p", int64(&[Some(1)]))]);
    let config = r#"{"derive": [{"name": "p", "multiply": ["a", "b"], "type": "int64"}]}"#;
    assert_eq!(
        enrich(config, vec![("in", vec![input])]).unwrap_err(),
        Error::input("column `p` is already in the input on `in`; derive `p` would add it again")
    );
}

#[test]
fn bad_configs_are_refused_naming_the_key() {
    let cases = [
        (
            r#"{"derive": [{"name": "t", "multiply": ["a"], "type": "int64"}]}"#,
            "derive[0].multiply: give exactly two columns, found 1",
        ),
        (
            r#"{"derive": [{"name": "t", "multiply": ["a", "b"]}]}"#,
            "derive[0]: `multiply` needs a `type`, e.g. \"decimal(18,2)\" or \"int64\"",
        ),
        (r#"{"derive": [{"multiply": ["a", "b"], "type": "int64"}]}"#, "derive[0]: `multiply` needs a `name`"),
        (
            r#"{"derive": [{"name": "t", "multiply": ["a", "b"], "type": "decimal(40,2)"}]}"#,
            "derive[0].type: expected \"decimal(P,S)\" with 1 <= P <= 38 and S <= P, or \"int64\"; found \"decimal(40,2)\"",
        ),
        (
            r#"{"derive": [{"name": "_t", "multiply": ["a", "b"], "type": "int64"}]}"#,
            "derive[0].name: `_t` starts with `_`, which is reserved for row metadata",
        ),
        (
            r#"{"derive": [{"name": "t", "multiply": ["a", ""], "type": "int64"}]}"#,
            "derive[0].multiply[1]: empty column name",
        ),
        (
            r#"{"derive": [{"name": "t", "multiply": ["a", "b"], "type": "int64", "parts": ["day"]}]}"#,
            "derive[0].parts: only `date_parts` takes `parts`",
        ),
        (r#"{"derive": [{"name": "t"}]}"#, "derive[0]: give `multiply` or `date_parts`"),
        (
            r#"{"derive": [{"multiply": ["a", "b"], "date_parts": "d"}]}"#,
            "derive[0]: give either `multiply` or `date_parts`, not both",
        ),
        (
            r#"{"derive": [{"date_parts": "d", "name": "x"}]}"#,
            "derive[0]: `date_parts` takes no `name` or `type`; its columns are named `<column>_<part>` (Int32)",
        ),
        (
            r#"{"derive": [{"date_parts": "d", "parts": ["year", "day", "year"]}]}"#,
            "derive[0].parts[2]: `year` is listed twice",
        ),
        (
            r#"{"derive": [{"date_parts": "d", "parts": ["week"]}]}"#,
            "derive[0].parts[0]: unknown variant `week`, expected one of `year`, `month`, `day` at line 1 column 48",
        ),
        (
            r#"{"derive": [{"date_part": "d"}]}"#,
            "derive[0].date_part: unknown field `date_part`, expected one of `name`, `multiply`, `type`, `date_parts`, `parts` at line 1 column 24",
        ),
        (r#"{"lookup": []}"#, "lookup: unknown field `lookup`, expected `derive` or `lookups` at line 1 column 9"),
        (
            r#"{"lookups": [{"port": "in", "key": "k", "columns": ["x"]}]}"#,
            "lookups[0].port: `in` is the port of the rows to enrich",
        ),
        (r#"{"lookups": [{"port": "", "key": "k", "columns": ["x"]}]}"#, "lookups[0].port: empty port name"),
        (r#"{"lookups": [{"port": "p", "key": "", "columns": ["x"]}]}"#, "lookups[0].key: empty column name"),
        (
            r#"{"lookups": [{"port": "p", "key": "k", "columns": []}]}"#,
            "lookups[0].columns: give at least one column to add",
        ),
        (
            r#"{"lookups": [{"port": "p", "key": "k", "columns": ["_line"]}]}"#,
            "lookups[0].columns[0]: `_line` starts with `_`, which is reserved for row metadata",
        ),
        (r#"{"lookups": [{"port": "p", "columns": ["x"]}]}"#, "lookups[0]: missing field `key` at line 1 column 44"),
        (
            r#"{"lookups": [{"port": "p", "key": "k", "columns": ["x"]}, {"port": "p", "key": "k", "columns": ["y"]}]}"#,
            "lookups[1].port: port `p` is already used by lookups[0]",
        ),
        (
            r#"{"lookups": [{"port": "p", "key": "k", "columns": ["x"], "orphan_metric": "orphans"},
                            {"port": "q", "key": "k", "columns": ["y"], "orphan_metric": "orphans"}]}"#,
            "lookups[1].orphan_metric: metric `orphans` is already reported by lookups[0]",
        ),
    ];
    for (config, message) in cases {
        assert_eq!(enrich(config, vec![]).unwrap_err(), Error::config(message), "{config}");
    }
}

#[test]
fn missing_and_mistyped_columns_are_named() {
    let orders = || {
        batch(vec![
            ("quantity", int64(&[Some(1)])),
            ("unit_price", decimal(&[Some(100)], 10, 2)),
            ("order_date", dates(&[Some("2024-01-01")])),
            ("product_id", utf8(&[Some("P1")])),
        ])
    };
    let with = |name: &str, column: ArrayRef| {
        let batch = orders();
        let index = batch.schema().index_of(name).unwrap();
        let mut columns = batch.columns().to_vec();
        columns[index] = column;
        RecordBatch::try_new(
            Arc::new(etl_sdk::arrow::schema::Schema::new(
                batch
                    .schema()
                    .fields()
                    .iter()
                    .zip(&columns)
                    .map(|(f, c)| etl_sdk::arrow::schema::Field::new(f.name(), c.data_type().clone(), true))
                    .collect::<Vec<_>>(),
            )),
            columns,
        )
        .unwrap()
    };
    let config = r#"{"derive": [
        {"name": "total_amount", "multiply": ["quantity", "unit_price"], "type": "decimal(18,2)"},
        {"date_parts": "order_date"}
    ], "lookups": [{"port": "products", "key": "product_id", "columns": ["category"]}]}"#;
    let attempt = |input: RecordBatch, lookups: Vec<RecordBatch>| {
        enrich(config, vec![("products", lookups), ("in", vec![input])]).map(|_| ()).unwrap_err()
    };

    assert_eq!(
        attempt(orders().project(&[1, 2, 3]).unwrap(), products()),
        Error::input("missing required column `quantity`")
    );
    assert_eq!(
        attempt(with("unit_price", utf8(&[Some("1.00")])), products()),
        Error::input(
            "column `unit_price` has type Utf8, expected Int32, Int64 or Decimal128 (derive `total_amount` multiplies it)"
        )
    );
    assert_eq!(
        attempt(with("order_date", utf8(&[Some("2024-01-01")])), products()),
        Error::input("column `order_date` has type Utf8, expected Date32")
    );
    assert_eq!(
        attempt(with("product_id", int64(&[Some(1)])), products()),
        Error::input("column `product_id` has type Int64, expected Utf8")
    );
    assert_eq!(
        attempt(orders(), vec![products()[0].project(&[0, 1]).unwrap()]),
        Error::input("lookup port `products`: missing required column `category`")
    );
    let numeric_keys = batch(vec![("product_id", int64(&[Some(1)])), ("category", utf8(&[Some("x")]))]);
    assert_eq!(
        attempt(orders(), vec![numeric_keys]),
        Error::input("lookup port `products`: column `product_id` has type Int64, expected Utf8")
    );
    let retyped = batch(vec![
        ("product_id", utf8(&[Some("P9")])),
        ("category", Arc::new(LargeStringArray::from(vec!["x"])) as ArrayRef),
    ]);
    assert_eq!(
        attempt(orders(), vec![products().remove(0), retyped]),
        Error::input("lookup port `products`: column `category` has type LargeUtf8, expected Utf8")
    );
    let lists = ListArray::from_iter_primitive::<Int64Type, _, _>([Some(vec![Some(1)])]);
    let nested = batch(vec![("product_id", utf8(&[Some("P9")])), ("category", Arc::new(lists) as ArrayRef)]);
    let error = attempt(orders(), vec![nested]);
    assert!(
        error.message().starts_with("lookup port `products`: column `category`: type List(")
            && error.message().contains("cannot be joined"),
        "{error}"
    );
}

#[test]
fn in_batches_must_keep_their_columns() {
    let first = batch(vec![("quantity", int64(&[Some(1)])), ("unit_price", decimal(&[Some(1)], 10, 2))]);
    let second = batch(vec![("quantity", int64(&[Some(1)])), ("unit_price", decimal(&[Some(1)], 12, 2))]);
    assert_eq!(
        enrich(TOTAL, vec![("in", vec![first, second])]).unwrap_err(),
        Error::input(
            "port `in` changed columns between batches: (quantity: Int64, unit_price: Decimal128(10, 2)) then \
             (quantity: Int64, unit_price: Decimal128(12, 2))"
        )
    );
}
