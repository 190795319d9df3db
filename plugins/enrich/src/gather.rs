//! Gathering rows out of several arrays of one type into a new array: the "take" of a join's
//! probe side, written by hand because the SDK carries no compute kernels.

use std::sync::Arc;

use etl_sdk::arrow::array::builder::{BooleanBuilder, GenericByteBuilder};
use etl_sdk::arrow::array::types::{BinaryType, ByteArrayType, LargeBinaryType, LargeUtf8Type, Utf8Type};
use etl_sdk::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, GenericByteArray, OffsetSizeTrait, PrimitiveArray,
    downcast_primitive, new_null_array,
};
use etl_sdk::arrow::buffer::{ArrowNativeType, NullBufferBuilder};
use etl_sdk::arrow::schema::DataType;
use etl_sdk::{Error, Result};

/// Where one output row comes from: `(source, row)`, or `None` for a null.
pub type Pick = Option<(u32, u32)>;

/// Whether [`gather`] handles columns of `data_type`, with the reason if not.
pub fn check_supported(data_type: &DataType) -> Result<()> {
    gather(data_type, &[], &[]).map(drop)
}

/// A new array of `data_type` whose row `i` is `sources[s].value(r)` for `picks[i] = Some((s, r))`
/// and null for `None` (or where the source row is null).
///
/// Every source must have type `data_type`. Supported: every primitive type (integers, floats,
/// decimals, dates, times, timestamps, durations, intervals), Utf8, LargeUtf8, Binary,
/// LargeBinary, Boolean and Null.
pub fn gather(data_type: &DataType, sources: &[&dyn Array], picks: &[Pick]) -> Result<ArrayRef> {
    macro_rules! primitive {
        ($t:ty) => {
            gather_primitive::<$t>(data_type, sources, picks)
        };
    }
    downcast_primitive! {
        data_type => (primitive),
        DataType::Utf8 => gather_bytes::<Utf8Type>(sources, picks),
        DataType::LargeUtf8 => gather_bytes::<LargeUtf8Type>(sources, picks),
        DataType::Binary => gather_bytes::<BinaryType>(sources, picks),
        DataType::LargeBinary => gather_bytes::<LargeBinaryType>(sources, picks),
        DataType::Boolean => gather_boolean(sources, picks),
        DataType::Null => Ok(new_null_array(&DataType::Null, picks.len())),
        other => Err(Error::input(format!(
            "type {other} cannot be joined; lookup columns may be primitive (numbers, decimals, dates, times), \
             Utf8, LargeUtf8, Binary, LargeBinary, Boolean or Null"
        ))),
    }
}

fn downcast<'a, A: Array + 'static>(sources: &[&'a dyn Array]) -> Result<Vec<&'a A>> {
    sources
        .iter()
        .map(|source| {
            source.as_any().downcast_ref::<A>().ok_or_else(|| {
                Error::failed(format!(
                    "lookup array of type {} is not the expected one; this is a bug",
                    source.data_type()
                ))
            })
        })
        .collect()
}

/// The source array and row of `pick` if it is valid there; an out-of-bounds pick is a bug.
fn resolve<'a, A: Array>(sources: &[&'a A], pick: Pick) -> Result<Option<(&'a A, usize)>> {
    let Some((source, row)) = pick else { return Ok(None) };
    let (source, row) = (source as usize, row as usize);
    match sources.get(source) {
        Some(array) if row < array.len() => Ok(array.is_valid(row).then_some((*array, row))),
        _ => Err(Error::failed(format!("lookup row ({source}, {row}) does not exist; this is a bug"))),
    }
}

fn gather_primitive<T: ArrowPrimitiveType>(
    data_type: &DataType,
    sources: &[&dyn Array],
    picks: &[Pick],
) -> Result<ArrayRef> {
    let sources = downcast::<PrimitiveArray<T>>(sources)?;
    let mut values = Vec::with_capacity(picks.len());
    let mut nulls = NullBufferBuilder::new(picks.len());
    for &pick in picks {
        match resolve(&sources, pick)? {
            Some((array, row)) => {
                values.push(array.value(row));
                nulls.append_non_null();
            }
            None => {
                values.push(T::Native::default());
                nulls.append_null();
            }
        }
    }
    // `with_data_type` keeps what `T` alone does not say: a decimal's precision and scale, a
    // timestamp's time zone.
    Ok(Arc::new(PrimitiveArray::<T>::new(values.into(), nulls.finish()).with_data_type(data_type.clone())))
}

fn gather_bytes<T: ByteArrayType>(sources: &[&dyn Array], picks: &[Pick]) -> Result<ArrayRef>
where
    T::Offset: OffsetSizeTrait,
{
    let sources = downcast::<GenericByteArray<T>>(sources)?;
    let mut bytes = 0usize;
    for &pick in picks {
        if let Some((array, row)) = resolve(&sources, pick)? {
            bytes = bytes.saturating_add(array.value_length(row).as_usize());
        }
    }
    if T::Offset::from_usize(bytes).is_none() {
        return Err(Error::failed(format!(
            "the joined {} column would hold {bytes} bytes in one batch, more than its offsets can address; \
             send smaller batches",
            T::DATA_TYPE
        )));
    }
    let mut builder = GenericByteBuilder::<T>::with_capacity(picks.len(), bytes);
    for &pick in picks {
        match resolve(&sources, pick)? {
            Some((array, row)) => builder.append_value(array.value(row)),
            None => builder.append_null(),
        }
    }
    Ok(Arc::new(builder.finish()))
}

fn gather_boolean(sources: &[&dyn Array], picks: &[Pick]) -> Result<ArrayRef> {
    let sources = downcast::<BooleanArray>(sources)?;
    let mut builder = BooleanBuilder::with_capacity(picks.len());
    for &pick in picks {
        builder.append_option(resolve(&sources, pick)?.map(|(array, row)| array.value(row)));
    }
    Ok(Arc::new(builder.finish()))
}

#[cfg(test)]
mod tests {
    use etl_sdk::arrow::array::{Decimal128Array, StringArray, TimestampSecondArray};

    use super::*;

    #[test]
    fn gathers_across_sources_keeping_the_type() {
        let a = Decimal128Array::from(vec![Some(100), None]).with_precision_and_scale(10, 2).unwrap();
        let b = Decimal128Array::from(vec![Some(-5)]).with_precision_and_scale(10, 2).unwrap();
        let picks = [Some((1, 0)), None, Some((0, 1)), Some((0, 0))];
        let out = gather(a.data_type(), &[&a, &b], &picks).unwrap();
        let expected =
            Decimal128Array::from(vec![Some(-5), None, None, Some(100)]).with_precision_and_scale(10, 2).unwrap();
        assert_eq!(out.as_ref(), &expected as &dyn Array);

        let s = StringArray::from(vec![Some("x"), None, Some("yz")]);
        let out = gather(&DataType::Utf8, &[&s], &[Some((0, 2)), Some((0, 1)), None, Some((0, 0))]).unwrap();
        assert_eq!(out.as_ref(), &StringArray::from(vec![Some("yz"), None, None, Some("x")]) as &dyn Array);

        let t = TimestampSecondArray::from(vec![7]).with_timezone("UTC");
        let out = gather(t.data_type(), &[&t], &[Some((0, 0))]).unwrap();
        assert_eq!(out.data_type(), t.data_type());
    }

    #[test]
    fn refuses_nested_types_and_bad_picks() {
        let list = DataType::List(Arc::new(etl_sdk::arrow::schema::Field::new("item", DataType::Int64, true)));
        assert!(check_supported(&list).unwrap_err().message().starts_with("type List("));
        check_supported(&DataType::Utf8).unwrap();
        let s = StringArray::from(vec!["x"]);
        assert!(gather(&DataType::Utf8, &[&s], &[Some((0, 1))]).unwrap_err().message().ends_with("this is a bug"));
    }
}
