//! CSV reports of small tables (stage 6, settled details 15 and 22): [`write_report_csv`].

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::DataType;

use super::SinkError;
use super::columns::{is_writable, sorted_rows, write_value};
use super::publish::write_file_atomically;

/// Writes `columns` of `batches` as a CSV report at `path` and returns its rows.
///
/// - A header row of the column names, then one row per input row, each line ended by `\n`.
/// - RFC 4180 quoting where needed: a field holding `,`, `"`, CR or LF is quoted, with its
///   quotes doubled.
/// - A null is an empty field; an empty string is `""`, so the two stay apart.
/// - Decimals have exactly their scale's digits (`-0.50`), dates are ISO `YYYY-MM-DD`.
/// - Rows are sorted ascending by `sort_by` (text by bytes, numbers and dates by value, nulls
///   last), ties in input order. The sort is in memory: reports are small aggregates.
///
/// The file is replaced atomically (written beside it, fsynced, renamed over it).
///
/// ```no_run
/// # let batches: Vec<arrow_array::RecordBatch> = Vec::new();
/// let columns = ["customer_id", "name", "region", "total_amount_sum", "total_amount_count"];
/// host::sinks::write_report_csv(
///     "reports/customer_summary_report.csv".as_ref(),
///     &batches,
///     &columns,
///     &["customer_id", "name", "region"],
/// )?;
/// # Ok::<(), host::sinks::SinkError>(())
/// ```
pub fn write_report_csv(
    path: &Path,
    batches: &[RecordBatch],
    columns: &[&str],
    sort_by: &[&str],
) -> Result<u64, SinkError> {
    let name = path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
    let target = format!("report {name}");
    let mut problems = Vec::new();
    for (index, batch) in batches.iter().enumerate() {
        for column in columns.iter().chain(sort_by) {
            match batch.column_by_name(column) {
                None => problems.push(format!("column `{column}` is missing from batch {index}")),
                Some(array) if columns.contains(column) && !is_writable(array.data_type()) => {
                    problems.push(format!("column `{column}` is {}, which a report cannot hold", array.data_type()));
                }
                Some(_) => {}
            }
        }
    }
    problems.dedup();
    if !problems.is_empty() {
        return Err(SinkError::Schema { target, problems });
    }
    let rows = sorted_rows(&target, batches, sort_by)?;
    let mut out = String::new();
    let header: Vec<&str> = columns.to_vec();
    for (index, column) in header.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_field(&mut out, column, false);
    }
    out.push('\n');
    let mut value = String::new();
    for &(batch, row) in &rows {
        let batch = &batches[batch as usize];
        for (index, column) in columns.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let Some(array) = batch.column_by_name(column) else { continue };
            let row = row as usize;
            if array.is_valid(row) {
                value.clear();
                write_value(&mut value, array.as_ref(), row);
                let text = matches!(array.data_type(), DataType::Utf8 | DataType::LargeUtf8);
                push_field(&mut out, &value, text);
            }
        }
        out.push('\n');
    }
    write_file_atomically(&target, path, out.as_bytes())?;
    Ok(rows.len() as u64)
}

/// Appends `value` as one CSV field, quoted if it must be (or if it is an empty text, to tell
/// it from a null).
fn push_field(out: &mut String, value: &str, text: bool) {
    let quote = (text && value.is_empty()) || value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Date32Array, Decimal128Array, Int64Array, StringArray};

    use super::*;
    use crate::sinks::test_util::{Scratch, tree};

    fn daily(
        dates: Vec<Option<i32>>,
        categories: Vec<Option<&str>>,
        sums: Vec<Option<i128>>,
        counts: Vec<i64>,
    ) -> RecordBatch {
        let sums = Decimal128Array::from(sums).with_precision_and_scale(18, 2).unwrap();
        RecordBatch::try_from_iter([
            ("category", Arc::new(StringArray::from(categories)) as ArrayRef),
            ("order_date", Arc::new(Date32Array::from(dates)) as ArrayRef),
            ("total_amount_sum", Arc::new(sums) as ArrayRef),
            ("total_amount_count", Arc::new(Int64Array::from(counts)) as ArrayRef),
            ("_ignored", Arc::new(Int64Array::from(vec![0; 3])) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn a_report_has_exact_bytes() {
        let scratch = Scratch::new("report");
        let path = scratch.path().join("reports/daily_sales_report.csv");
        // 2024-01-02 = 19724, 2024-01-01 = 19723.
        let batches = [
            daily(
                vec![Some(19_724), Some(19_723), None],
                vec![Some("toys, games"), None, Some("books")],
                vec![Some(-50), Some(123_456), Some(0)],
                vec![1, 2, 3],
            ),
            daily(
                vec![Some(19_723), Some(19_723), Some(19_724)],
                vec![Some("say \"hi\""), Some(""), Some("Toys\nline")],
                vec![Some(5), None, Some(1_000)],
                vec![4, 5, 6],
            ),
        ];
        let columns = ["order_date", "category", "total_amount_sum", "total_amount_count"];
        let rows = write_report_csv(&path, &batches, &columns, &["order_date", "category"]).unwrap();
        assert_eq!(rows, 6);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "order_date,category,total_amount_sum,total_amount_count\n\
             2024-01-01,\"\",,5\n\
             2024-01-01,\"say \"\"hi\"\"\",0.05,4\n\
             2024-01-01,,1234.56,2\n\
             2024-01-02,\"Toys\nline\",10.00,6\n\
             2024-01-02,\"toys, games\",-0.50,1\n\
             ,books,0.00,3\n"
        );
        // Written again: replaced, no temporary file left.
        write_report_csv(&path, &batches[..1], &columns, &["category"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "order_date,category,total_amount_sum,total_amount_count\n\
             ,books,0.00,3\n\
             2024-01-02,\"toys, games\",-0.50,1\n\
             2024-01-01,,1234.56,2\n"
        );
        assert_eq!(tree(scratch.path()), ["reports/daily_sales_report.csv"]);
    }

    #[test]
    fn an_empty_report_has_its_header() {
        let scratch = Scratch::new("report-empty");
        let path = scratch.path().join("r.csv");
        assert_eq!(write_report_csv(&path, &[], &["a", "b,c"], &["a"]).unwrap(), 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,\"b,c\"\n");
    }

    #[test]
    fn missing_columns_are_all_named() {
        let scratch = Scratch::new("report-missing");
        let batch = daily(vec![Some(1); 3], vec![Some("a"); 3], vec![Some(1); 3], vec![1; 3]);
        let error =
            write_report_csv(&scratch.path().join("r.csv"), &[batch], &["order_date", "region"], &["customer_id"])
                .unwrap_err();
        assert_eq!(
            error.to_string(),
            "report r.csv: column `region` is missing from batch 0; column `customer_id` is missing from batch 0"
        );
    }
}
