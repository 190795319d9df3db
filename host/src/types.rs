//! Column types as pipeline files write them (`text`, `int64`, `decimal(18,2)`, `date`, ...):
//! [`parse_type`] reads one, [`type_name`] writes an Arrow type back the same way, so that a
//! message compares like with like ("column `day` is int64, the table declares int32").

use std::borrow::Cow;

use arrow_schema::DataType;

/// The type names [`parse_type`] knows, for messages.
pub const TYPE_NAMES: &str =
    "text, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, date or decimal(p,s)";

/// The Arrow type a pipeline file's type name stands for: `text` (or `utf8`), `bool`,
/// `int8`..`int64`, `uint8`..`uint64`, `float32`, `float64`, `date` (days, Arrow `Date32`) or
/// `decimal(p,s)` with `1 <= p <= 38` and `0 <= s <= p`.
pub fn parse_type(text: &str) -> Result<DataType, String> {
    let data_type = match text {
        "text" | "utf8" => DataType::Utf8,
        "bool" => DataType::Boolean,
        "int8" => DataType::Int8,
        "int16" => DataType::Int16,
        "int32" => DataType::Int32,
        "int64" => DataType::Int64,
        "uint8" => DataType::UInt8,
        "uint16" => DataType::UInt16,
        "uint32" => DataType::UInt32,
        "uint64" => DataType::UInt64,
        "float32" => DataType::Float32,
        "float64" => DataType::Float64,
        "date" => DataType::Date32,
        _ => return parse_decimal(text),
    };
    Ok(data_type)
}

fn parse_decimal(text: &str) -> Result<DataType, String> {
    let unknown = || format!("unknown column type `{text}` (expected {TYPE_NAMES})");
    let args = text.strip_prefix("decimal(").and_then(|rest| rest.strip_suffix(')')).ok_or_else(unknown)?;
    let (precision, scale) = args.split_once(',').ok_or_else(unknown)?;
    let precision: u8 = precision.trim().parse().map_err(|_| unknown())?;
    let scale: i8 = scale.trim().parse().map_err(|_| unknown())?;
    if !(1..=38).contains(&precision) {
        Err(format!("column type `{text}`: decimal precision {precision} is outside 1..=38"))
    } else if scale < 0 || scale as u8 > precision {
        Err(format!("column type `{text}`: decimal scale {scale} is outside 0..={precision}"))
    } else {
        Ok(DataType::Decimal128(precision, scale))
    }
}

/// `data_type` as a pipeline file writes it; a type files can't declare keeps Arrow's name
/// (`Timestamp(ns)`).
pub fn type_name(data_type: &DataType) -> Cow<'static, str> {
    let name = match data_type {
        DataType::Utf8 => "text",
        DataType::Boolean => "bool",
        DataType::Int8 => "int8",
        DataType::Int16 => "int16",
        DataType::Int32 => "int32",
        DataType::Int64 => "int64",
        DataType::UInt8 => "uint8",
        DataType::UInt16 => "uint16",
        DataType::UInt32 => "uint32",
        DataType::UInt64 => "uint64",
        DataType::Float32 => "float32",
        DataType::Float64 => "float64",
        DataType::Date32 => "date",
        DataType::Decimal128(precision, scale) => return Cow::Owned(format!("decimal({precision},{scale})")),
        other => return Cow::Owned(other.to_string()),
    };
    Cow::Borrowed(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types_go_both_ways() {
        for name in [
            "text",
            "bool",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "float32",
            "float64",
            "date",
            "decimal(18,2)",
            "decimal(38,0)",
        ] {
            assert_eq!(type_name(&parse_type(name).unwrap()), name);
        }
        assert_eq!(parse_type("utf8"), Ok(DataType::Utf8));
        assert_eq!(parse_type("decimal( 10 , 2 )"), Ok(DataType::Decimal128(10, 2)));
        assert_eq!(type_name(&DataType::LargeUtf8), "LargeUtf8");
    }

    #[test]
    fn bad_types_say_what_is_expected() {
        assert_eq!(parse_type("string"), Err(format!("unknown column type `string` (expected {TYPE_NAMES})")));
        assert_eq!(
            parse_type("decimal(39,2)"),
            Err("column type `decimal(39,2)`: decimal precision 39 is outside 1..=38".to_owned())
        );
        assert_eq!(
            parse_type("decimal(4,5)"),
            Err("column type `decimal(4,5)`: decimal scale 5 is outside 0..=4".to_owned())
        );
        assert!(parse_type("decimal(x,1)").is_err());
    }
}
