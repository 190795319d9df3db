//! The README's filter, run natively as the host drives it.

use std::sync::Arc;

use etl_sdk::prelude::*;
use etl_sdk::testing::{batch, run};
use high_value::HighValue;

fn lines(rows: &[(&str, Option<i64>, Option<i128>)], scale: i8) -> RecordBatch {
    let ids = StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
    let quantity = Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
    let price = Decimal128Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())
        .with_precision_and_scale(18, scale)
        .unwrap();
    batch([("order_id", Arc::new(ids) as ArrayRef), ("quantity", Arc::new(quantity)), ("unit_price", Arc::new(price))])
}

fn kept(run: &etl_sdk::testing::Run) -> Vec<String> {
    let ids =
        run.batches("output").iter().flat_map(|b| b.column(0).as_any().downcast_ref::<StringArray>().unwrap().iter());
    ids.map(|id| id.unwrap().to_owned()).collect()
}

#[test]
fn keeps_the_lines_worth_more_than_min_amount_at_any_price_scale() {
    let config = r#"{"min_amount": "500.00"}"#;
    // 2 * 250.00 = 500.00 is not more than 500.00; 3 * 166.67 = 500.01 is; nulls are dropped.
    let cents = lines(
        &[("a", Some(2), Some(25_000)), ("b", Some(3), Some(16_667)), ("c", None, Some(1)), ("d", Some(9), None)],
        2,
    );
    let both = run::<HighValue>(config, [("input", vec![cents.clone(), cents.slice(1, 1)])]).unwrap();
    assert_eq!(kept(&both), ["b", "b"]);
    assert_eq!(both.batches("output")[0].schema(), cents.schema(), "every column is kept");
    // The same amounts in thousandths: 500.001 is more than 500.00; -4 * -200.000 = 800 is.
    let mills =
        lines(&[("e", Some(1), Some(500_001)), ("f", Some(-4), Some(-200_000)), ("g", Some(1), Some(500_000))], 3);
    assert_eq!(kept(&run::<HighValue>(config, [("input", vec![mills])]).unwrap()), ["e", "f"]);
}

#[test]
fn reads_min_amount_as_a_number_and_refuses_what_it_does_not_know() {
    let input = || vec![lines(&[("a", Some(1), Some(1_000)), ("b", Some(1), Some(1_001))], 2)];
    assert_eq!(kept(&run::<HighValue>(r#"{"min_amount": 10}"#, [("input", input())]).unwrap()), ["b"]);
    let error = run::<HighValue>(r#"{"min": "1"}"#, [("input", input())]).unwrap_err();
    assert!(error.message().contains("unknown field `min`, expected `min_amount`"), "{error}");
    let error = run::<HighValue>("{}", [("input", input())]).unwrap_err();
    assert!(error.message().contains("missing field `min_amount`"), "{error}");
}

#[test]
fn names_a_missing_or_mistyped_column() {
    let ids = batch([("order_id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef)]);
    let error = run::<HighValue>(r#"{"min_amount": 1}"#, [("input", vec![ids])]).unwrap_err();
    assert_eq!(error, Error::input("missing required column `quantity`"));
    let text = batch([("quantity", Arc::new(StringArray::from(vec!["1"])) as ArrayRef)]);
    let error = run::<HighValue>(r#"{"min_amount": 1}"#, [("input", vec![text])]).unwrap_err();
    assert_eq!(error, Error::input("column `quantity` has type Utf8, expected Int64"));
}

/// The READMEs and the plugin guide show this crate's source, verbatim, as the filter example,
/// and it stays within the 15 lines the guide promises.
#[test]
fn the_documents_show_this_crate_as_it_is() {
    let source = include_str!("../src/lib.rs");
    let block = format!("```rust\n{source}```\n");
    for (document, text) in [
        ("README.md", include_str!("../../../../README.md")),
        ("plugins/sdk/README.md", include_str!("../../../sdk/README.md")),
        ("docs/plugin-guide.md", include_str!("../../../../docs/plugin-guide.md")),
    ] {
        assert!(text.contains(&block), "{document} does not show plugins/examples/high-value/src/lib.rs as it is");
    }
    let lines = source.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines <= 15, "the example has {lines} lines of code");
    assert!(include_str!("../../../sdk/README.md").contains(&format!("## A filter in {lines} lines")));
}
