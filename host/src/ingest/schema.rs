//! The declared shape of a CSV file ([`CsvSchema`]) and the two Arrow schemas ingestion produces
//! from it: valid rows (declared columns plus `_line` and `_offset`) and rejected rows (the
//! quarantine layout of the spec's settled detail 21).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// The metadata column holding the physical line where a record starts (the header is line 1).
pub const LINE_COLUMN: &str = "_line";
/// The metadata column holding the byte offset in the file where a record starts.
pub const OFFSET_COLUMN: &str = "_offset";
/// The suffix of the quarantine's raw text columns: `quantity` → `quantity_raw`.
pub const RAW_SUFFIX: &str = "_raw";

/// The declared type of a CSV column.
///
/// Written in configuration and messages as `text`, `int64`, `decimal(p,s)` and `date`
/// ([`FromStr`] also accepts `utf8` for `text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Text, kept exactly as read (no trimming). Arrow `Utf8`.
    Utf8,
    /// `[+-]?digits` fitting in 64 bits. Arrow `Int64`.
    Int64,
    /// `[+-]?digits[.digits]` with at most `scale` fraction digits and at most
    /// `precision - scale` significant integer digits. Arrow `Decimal128(precision, scale)`.
    Decimal { precision: u8, scale: i8 },
    /// `YYYY-MM-DD`, a real calendar date. Arrow `Date32` (days since 1970-01-01).
    Date,
}

impl ColumnType {
    /// The Arrow type of the column in valid batches.
    pub fn data_type(&self) -> DataType {
        match *self {
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            ColumnType::Date => DataType::Date32,
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Utf8 => f.write_str("text"),
            ColumnType::Int64 => f.write_str("int64"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::Date => f.write_str("date"),
        }
    }
}

impl FromStr for ColumnType {
    type Err = String;

    /// Parses `text` (or `utf8`), `int64`, `decimal(p,s)` or `date` (the names of
    /// [`crate::types`] that CSV ingestion reads).
    fn from_str(text: &str) -> Result<Self, String> {
        let unknown = || format!("unknown column type `{text}` (expected text, int64, decimal(p,s) or date)");
        match crate::types::parse_type(text) {
            Ok(DataType::Utf8) => Ok(ColumnType::Utf8),
            Ok(DataType::Int64) => Ok(ColumnType::Int64),
            Ok(DataType::Date32) => Ok(ColumnType::Date),
            Ok(DataType::Decimal128(precision, scale)) => Ok(ColumnType::Decimal { precision, scale }),
            // A decimal out of range says why.
            Err(problem) if text.starts_with("decimal(") && !problem.starts_with("unknown") => Err(problem),
            Ok(_) | Err(_) => Err(unknown()),
        }
    }
}

impl ColumnType {
    /// Whether the type can be ingested: decimals need `1 <= precision <= 38` and
    /// `0 <= scale <= precision`.
    fn check(&self) -> Result<(), String> {
        match *self {
            ColumnType::Decimal { precision, scale } => {
                if !(1..=38).contains(&precision) {
                    Err(format!("decimal precision {precision} is outside 1..=38"))
                } else if scale < 0 || scale as u8 > precision {
                    Err(format!("decimal scale {scale} is outside 0..={precision}"))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

/// One declared CSV column: the header name and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
}

impl Column {
    /// A column named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        Column { name: name.into(), ty }
    }
}

/// The columns a CSV file must have, in header order.
///
/// ```
/// use host::ingest::{Column, ColumnType, CsvSchema};
///
/// let products = CsvSchema::new(vec![
///     Column::new("product_id", ColumnType::Utf8),
///     Column::new("product_name", ColumnType::Utf8),
///     Column::new("category", ColumnType::Utf8),
///     Column::new("list_price", "decimal(10,2)".parse().unwrap()),
/// ]);
/// assert_eq!(products.arrow_schema().fields().len(), 6); // plus `_line` and `_offset`
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSchema {
    pub columns: Vec<Column>,
}

impl CsvSchema {
    /// A schema of `columns`, in header order.
    pub fn new(columns: Vec<Column>) -> Self {
        CsvSchema { columns }
    }

    /// The schema of valid batches: every declared column with its Arrow type, nullable, in
    /// declared order, then `_line` and `_offset` (non-null `Int64`).
    pub fn arrow_schema(&self) -> SchemaRef {
        let declared = self.columns.iter().map(|column| Field::new(&column.name, column.ty.data_type(), true));
        let metadata =
            [Field::new(LINE_COLUMN, DataType::Int64, false), Field::new(OFFSET_COLUMN, DataType::Int64, false)];
        Arc::new(Schema::new(declared.chain(metadata).collect::<Vec<_>>()))
    }

    /// The schema of rejected batches (settled detail 21): `source_file`, `line_number`, `stage`,
    /// `reasons`, `message`, `raw_line`, then one `<column>_raw` text column per declared column.
    ///
    /// `message`, `raw_line` and the raw columns are nullable, so stages that quarantine without a
    /// message or without the raw line can share the layout.
    pub fn quarantine_schema(&self) -> SchemaRef {
        let fixed = [
            Field::new("source_file", DataType::Utf8, false),
            Field::new("line_number", DataType::Int64, false),
            Field::new("stage", DataType::Utf8, false),
            Field::new("reasons", DataType::Utf8, false),
            Field::new("message", DataType::Utf8, true),
            Field::new("raw_line", DataType::Utf8, true),
        ];
        let raw =
            self.columns.iter().map(|column| Field::new(format!("{}{RAW_SUFFIX}", column.name), DataType::Utf8, true));
        Arc::new(Schema::new(fixed.into_iter().chain(raw).collect::<Vec<_>>()))
    }

    /// Every problem that keeps this schema from being ingested, joined by `; `: no columns, a
    /// name that is empty, repeated or reserved (`_line`, `_offset`), an impossible decimal type.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.columns.is_empty() {
            problems.push("no columns declared".to_owned());
        }
        for (index, column) in self.columns.iter().enumerate() {
            if column.name.is_empty() {
                problems.push(format!("column {} has an empty name", index + 1));
            } else if column.name == LINE_COLUMN || column.name == OFFSET_COLUMN {
                problems.push(format!("column `{}` uses a reserved name", column.name));
            } else if self.columns[..index].iter().any(|earlier| earlier.name == column.name) {
                problems.push(format!("column `{}` is declared twice", column.name));
            }
            if let Err(problem) = column.ty.check() {
                problems.push(format!("column `{}`: {problem}", column.name));
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_parse_and_print() {
        for text in ["text", "int64", "decimal(10,2)", "decimal(38,0)", "date"] {
            let ty: ColumnType = text.parse().unwrap();
            assert_eq!(ty.to_string(), text);
        }
        assert_eq!("utf8".parse::<ColumnType>(), Ok(ColumnType::Utf8));
        assert_eq!("decimal( 10 , 2 )".parse::<ColumnType>(), Ok(ColumnType::Decimal { precision: 10, scale: 2 }));
        assert_eq!(
            "float".parse::<ColumnType>().unwrap_err(),
            "unknown column type `float` (expected text, int64, decimal(p,s) or date)"
        );
        assert_eq!(
            "decimal(40,2)".parse::<ColumnType>().unwrap_err(),
            "column type `decimal(40,2)`: decimal precision 40 is outside 1..=38"
        );
        assert_eq!(
            "decimal(4,5)".parse::<ColumnType>().unwrap_err(),
            "column type `decimal(4,5)`: decimal scale 5 is outside 0..=4"
        );
    }

    #[test]
    fn schemas_have_the_declared_layout() {
        let schema = CsvSchema::new(vec![
            Column::new("id", ColumnType::Utf8),
            Column::new("n", ColumnType::Int64),
            Column::new("price", ColumnType::Decimal { precision: 10, scale: 2 }),
            Column::new("day", ColumnType::Date),
        ]);
        let valid = schema.arrow_schema();
        let described: Vec<String> =
            valid.fields().iter().map(|f| format!("{} {} {}", f.name(), f.data_type(), f.is_nullable())).collect();
        assert_eq!(
            described,
            [
                "id Utf8 true",
                "n Int64 true",
                "price Decimal128(10, 2) true",
                "day Date32 true",
                "_line Int64 false",
                "_offset Int64 false"
            ]
        );
        let quarantine = schema.quarantine_schema();
        let names: Vec<&str> = quarantine.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "source_file",
                "line_number",
                "stage",
                "reasons",
                "message",
                "raw_line",
                "id_raw",
                "n_raw",
                "price_raw",
                "day_raw"
            ]
        );
    }

    #[test]
    fn check_reports_every_problem() {
        assert_eq!(CsvSchema::new(vec![]).check().unwrap_err(), "no columns declared");
        let schema = CsvSchema::new(vec![
            Column::new("a", ColumnType::Utf8),
            Column::new("", ColumnType::Utf8),
            Column::new("a", ColumnType::Int64),
            Column::new("_line", ColumnType::Int64),
            Column::new("p", ColumnType::Decimal { precision: 0, scale: 0 }),
        ]);
        assert_eq!(
            schema.check().unwrap_err(),
            "column 2 has an empty name; column `a` is declared twice; column `_line` uses a reserved name; \
             column `p`: decimal precision 0 is outside 1..=38"
        );
    }
}
