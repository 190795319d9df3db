//! Looking up the columns a stage needs, with errors that name the column and the types; checking
//! that a port's batches keep their columns, and describing them in a message.

/// `same_columns`: whether two schemas have the same column names and types in the same order
/// (nullability and metadata aside); `describe_columns` writes them as
/// `(order_id: Utf8, quantity: Int64)`.
pub use etl_format::ipc::{describe_columns, same_columns};

use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray, RecordBatch};
use arrow_schema::DataType;

use crate::Error;

/// The column `name` of `batch`, which must have type `expected`.
///
/// Fails with [`Error::InvalidInput`] naming the column when it is missing or has another type.
pub fn column<'a>(batch: &'a RecordBatch, name: &str, expected: &DataType) -> Result<&'a ArrayRef, Error> {
    let column = batch.column_by_name(name).ok_or_else(|| Error::input(format!("missing required column `{name}`")))?;
    if column.data_type() != expected {
        return Err(Error::input(format!("column `{name}` has type {}, expected {expected}", column.data_type())));
    }
    Ok(column)
}

/// Like [`column()`], downcast to the concrete array type, e.g. `column_as::<Int64Array>`.
pub fn column_as<'a, A: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
    expected: &DataType,
) -> Result<&'a A, Error> {
    column(batch, name, expected)?.as_any().downcast_ref::<A>().ok_or_else(|| {
        Error::failed(format!("column `{name}`: array type does not match {expected}; this is a bug in the stage"))
    })
}

/// The column `name` of `batch` as a primitive array of `T`, whose type says what the column must
/// be: `primitive_column::<Int64Type>(&batch, "quantity")` is an `&Int64Array`.
///
/// For decimals, whose type carries a precision and scale, use [`crate::decimal_column`].
pub fn primitive_column<'a, T: ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a PrimitiveArray<T>, Error> {
    column_as::<PrimitiveArray<T>>(batch, name, &T::DATA_TYPE)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::{Int64Array, StringArray};

    use super::*;

    #[test]
    fn names_missing_and_mistyped_columns() {
        let batch =
            RecordBatch::try_from_iter([("quantity", Arc::new(StringArray::from(vec!["1"])) as ArrayRef)]).unwrap();
        assert_eq!(
            column(&batch, "order_id", &DataType::Utf8).unwrap_err(),
            Error::input("missing required column `order_id`")
        );
        assert_eq!(
            column_as::<Int64Array>(&batch, "quantity", &DataType::Int64).unwrap_err(),
            Error::input("column `quantity` has type Utf8, expected Int64")
        );
        assert_eq!(column_as::<StringArray>(&batch, "quantity", &DataType::Utf8).unwrap().value(0), "1");
    }

    #[test]
    fn primitive_columns_take_their_type_from_the_array_type() {
        let batch =
            RecordBatch::try_from_iter([("quantity", Arc::new(Int64Array::from(vec![3, 4])) as ArrayRef)]).unwrap();
        assert_eq!(primitive_column::<Int64Type>(&batch, "quantity").unwrap().values(), &[3, 4]);
        assert_eq!(
            primitive_column::<Float64Type>(&batch, "quantity").unwrap_err(),
            Error::input("column `quantity` has type Int64, expected Float64")
        );
        assert_eq!(
            primitive_column::<Int64Type>(&batch, "qty").unwrap_err(),
            Error::input("missing required column `qty`")
        );
    }
}
