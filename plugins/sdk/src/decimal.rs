//! Exact decimal numbers: [`Decimal`] for config values and arithmetic, [`DecimalColumn`] to read
//! a `Decimal128` column of whatever precision and scale the input has, and [`DecimalText`] to
//! write Arrow's unscaled integers as text.
//!
//! ```
//! use etl_sdk::decimal::Decimal;
//!
//! let price: Decimal = "19.99".parse()?;
//! assert_eq!(price * 3, "59.97".parse()?);
//! assert!(price > Decimal::new(1999, 2 + 1)); // 19.99 > 1.999, whatever the scales
//! assert_eq!(Decimal::new(1000, 2), Decimal::new(10, 0)); // 10.00 == 10
//! assert_eq!(price.rescale(4).map(|d| d.units()), Some(199_900));
//! assert_eq!(price.rescale(1), None); // 19.99 has no exact value with one fraction digit
//! # Ok::<(), etl_sdk::decimal::ParseDecimalError>(())
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Add, Mul, Neg, Sub};
use std::str::FromStr;

use arrow_array::{Array, Decimal128Array, RecordBatch};
use arrow_schema::DataType;
pub use etl_format::decimal::DecimalText;

use crate::Error;

/// The most fraction digits a [`Decimal`] (and an Arrow `Decimal128`) has.
pub const MAX_SCALE: u8 = 38;

/// An exact decimal number, `units / 10^scale`, with a scale of 0 to [`MAX_SCALE`].
///
/// Equality and order are by value, across scales (`10.00 == 10`); the scale a value was written
/// with is kept (`"1.50"` displays as `1.50`). Arithmetic is exact: `+`, `-` and `*` panic on
/// overflow, which fails the stage with the message; the `checked_*` methods return `None`.
///
/// In a config it reads from a JSON string (`"100.10"`, every digit kept) or a number (`100.1`;
/// numbers are doubles in JSON, so a number of more than 15 significant digits is refused: write
/// it as a string).
#[derive(Clone, Copy)]
pub struct Decimal {
    units: i128,
    scale: u8,
}

const POW10: [i128; 39] = {
    let mut table = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

impl Decimal {
    pub const ZERO: Decimal = Decimal { units: 0, scale: 0 };

    /// `units / 10^scale`: `Decimal::new(1999, 2)` is 19.99.
    ///
    /// # Panics
    /// When `scale` is above [`MAX_SCALE`].
    pub const fn new(units: i128, scale: u8) -> Decimal {
        assert!(scale <= MAX_SCALE, "a decimal's scale is at most 38");
        Decimal { units, scale }
    }

    /// The unscaled integer: 1999 for 19.99 at scale 2.
    pub const fn units(self) -> i128 {
        self.units
    }

    /// Digits after the point.
    pub const fn scale(self) -> u8 {
        self.scale
    }

    /// The same value with `scale` fraction digits, if it has one exactly: adding zeros always
    /// works (unless the units overflow), dropping digits only when they are zeros.
    pub fn rescale(self, scale: u8) -> Option<Decimal> {
        if scale > MAX_SCALE {
            return None;
        }
        let units = match scale.cmp(&self.scale) {
            Ordering::Equal => self.units,
            Ordering::Greater => self.units.checked_mul(POW10[usize::from(scale - self.scale)])?,
            Ordering::Less => {
                let divisor = POW10[usize::from(self.scale - scale)];
                if self.units % divisor != 0 {
                    return None;
                }
                self.units / divisor
            }
        };
        Some(Decimal { units, scale })
    }

    /// `self + other` at the larger of the two scales, or `None` on overflow.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.rescale(scale)?, other.rescale(scale)?);
        Some(Decimal { units: a.units.checked_add(b.units)?, scale })
    }

    /// `self - other` at the larger of the two scales, or `None` on overflow.
    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        self.checked_add(other.checked_neg()?)
    }

    /// `self * other` at the sum of the scales, or `None` when that passes [`MAX_SCALE`] or the
    /// units overflow.
    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.checked_add(other.scale).filter(|&s| s <= MAX_SCALE)?;
        Some(Decimal { units: self.units.checked_mul(other.units)?, scale })
    }

    /// `-self`, or `None` for the one value whose negation overflows.
    pub fn checked_neg(self) -> Option<Decimal> {
        Some(Decimal { units: self.units.checked_neg()?, scale: self.scale })
    }

    /// The value with trailing fraction zeros dropped: 1.500 → 1.5, 10.00 → 10.
    pub fn normalize(self) -> Decimal {
        let (mut units, mut scale) = (self.units, self.scale);
        while scale > 0 && units % 10 == 0 {
            units /= 10;
            scale -= 1;
        }
        Decimal { units, scale }
    }

    fn overflow(self, op: &str, other: impl fmt::Display) -> ! {
        panic!("decimal overflow: {self} {op} {other}")
    }
}

impl From<i64> for Decimal {
    fn from(value: i64) -> Decimal {
        Decimal { units: i128::from(value), scale: 0 }
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl Hash for Decimal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let normal = self.normalize();
        (normal.units, normal.scale).hash(state);
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    /// By value, exactly, whatever the scales: the integer parts first (floor division, so the
    /// fraction parts are both non-negative), then the fractions at the larger scale, where they
    /// are below 10^38 and cannot overflow.
    fn cmp(&self, other: &Decimal) -> Ordering {
        let (a, b) = (POW10[usize::from(self.scale)], POW10[usize::from(other.scale)]);
        let integer = self.units.div_euclid(a).cmp(&other.units.div_euclid(b));
        let scale = self.scale.max(other.scale);
        let fraction = |d: &Decimal, divisor: i128| d.units.rem_euclid(divisor) * POW10[usize::from(scale - d.scale)];
        integer.then_with(|| fraction(self, a).cmp(&fraction(other, b)))
    }
}

impl Add for Decimal {
    type Output = Decimal;
    fn add(self, other: Decimal) -> Decimal {
        self.checked_add(other).unwrap_or_else(|| self.overflow("+", other))
    }
}

impl Sub for Decimal {
    type Output = Decimal;
    fn sub(self, other: Decimal) -> Decimal {
        self.checked_sub(other).unwrap_or_else(|| self.overflow("-", other))
    }
}

impl Mul for Decimal {
    type Output = Decimal;
    fn mul(self, other: Decimal) -> Decimal {
        self.checked_mul(other).unwrap_or_else(|| self.overflow("*", other))
    }
}

impl Mul<i64> for Decimal {
    type Output = Decimal;
    fn mul(self, other: i64) -> Decimal {
        self.checked_mul(other.into()).unwrap_or_else(|| self.overflow("*", other))
    }
}

impl Neg for Decimal {
    type Output = Decimal;
    fn neg(self) -> Decimal {
        self.checked_neg().unwrap_or_else(|| panic!("decimal overflow: -({self})"))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DecimalText::new(self.units, i32::from(self.scale)).fmt(f)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

/// Why text is not a [`Decimal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDecimalError {
    text: String,
    reason: &'static str,
}

impl fmt::Display for ParseDecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected a decimal, got {:?}{}", self.text, self.reason)
    }
}

impl std::error::Error for ParseDecimalError {}

impl FromStr for Decimal {
    type Err = ParseDecimalError;

    /// `[+-]digits[.digits]`, or `[+-].digits`: `12`, `-0.50`, `+3.`, `.5`. No exponent, no
    /// separators, at most 38 digits after the point.
    fn from_str(text: &str) -> Result<Decimal, ParseDecimalError> {
        let error = |reason| ParseDecimalError { text: text.chars().take(64).collect(), reason };
        let (negative, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (integer, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() && fraction.is_empty() || !all_digits(integer) || !all_digits(fraction) {
            return Err(error(""));
        }
        let scale = u8::try_from(fraction.len()).ok().filter(|&s| s <= MAX_SCALE);
        let scale = scale.ok_or_else(|| error(" (more than 38 digits after the point)"))?;
        let mut units: i128 = 0;
        for b in integer.bytes().chain(fraction.bytes()) {
            let digit = i128::from(b - b'0');
            units = units
                .checked_mul(10)
                .and_then(|u| if negative { u.checked_sub(digit) } else { u.checked_add(digit) })
                .ok_or_else(|| error(" (too many digits)"))?;
        }
        Ok(Decimal { units, scale })
    }
}

impl<'de> serde::Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        deserializer.deserialize_any(DecimalVisitor)
    }
}

struct DecimalVisitor;

/// The most significant digits a double carries exactly through text and back.
const DOUBLE_DIGITS: usize = 15;

impl serde::de::Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal, as a string (\"12.50\") or a number")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Decimal, E> {
        text.trim().parse().map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Decimal, E> {
        Ok(value.into())
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Decimal, E> {
        Ok(Decimal { units: i128::from(value), scale: 0 })
    }

    /// A number with a fraction or an exponent arrives as a double; its shortest text (Rust
    /// prints no exponent) is the number as written when that had at most 15 significant digits.
    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Decimal, E> {
        let text = value.to_string();
        let significant = text.trim_start_matches(['-', '0', '.']).replace('.', "");
        if !value.is_finite() || significant.trim_end_matches('0').len() > DOUBLE_DIGITS {
            return Err(E::custom(format!(
                "{value} has more significant digits than a JSON number keeps exactly; write the decimal as a string"
            )));
        }
        text.parse().map_err(E::custom)
    }
}

/// A `Decimal128` column of any precision and scale, read as [`Decimal`]s: what a stage uses when
/// it should not care whether prices come as `decimal(10,2)` or `decimal(18,4)`.
#[derive(Debug, Clone, Copy)]
pub struct DecimalColumn<'a> {
    array: &'a Decimal128Array,
    scale: u8,
}

impl<'a> DecimalColumn<'a> {
    /// Row `i`'s value, `None` when null.
    ///
    /// # Panics
    /// When `i` is out of bounds, as Arrow's arrays do.
    pub fn value(&self, i: usize) -> Option<Decimal> {
        self.array.is_valid(i).then(|| Decimal { units: self.array.value(i), scale: self.scale })
    }

    /// Every row's value in order, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<Decimal>> + 'a {
        let scale = self.scale;
        self.array.iter().map(move |units| units.map(|units| Decimal { units, scale }))
    }

    /// Digits after the point of every value in the column.
    pub fn scale(&self) -> u8 {
        self.scale
    }

    pub fn len(&self) -> usize {
        self.array.len()
    }

    pub fn is_empty(&self) -> bool {
        self.array.is_empty()
    }

    /// The Arrow array, for kernels and for the unscaled integers.
    pub fn array(&self) -> &'a Decimal128Array {
        self.array
    }
}

/// The `Decimal128` column `name` of `batch`, whatever its precision and scale.
///
/// Fails with [`Error::InvalidInput`] naming the column when it is missing, not a `Decimal128`,
/// or has a negative scale.
pub fn decimal_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<DecimalColumn<'a>, Error> {
    let column = batch.column_by_name(name).ok_or_else(|| Error::input(format!("missing required column `{name}`")))?;
    let mistyped = || Error::input(format!("column `{name}` has type {}, expected a Decimal128", column.data_type()));
    let DataType::Decimal128(_, scale) = *column.data_type() else {
        return Err(mistyped());
    };
    let scale = u8::try_from(scale).map_err(|_| {
        Error::input(format!("column `{name}` has a negative scale ({}), which stages cannot read", column.data_type()))
    })?;
    let array = column.as_any().downcast_ref::<Decimal128Array>().ok_or_else(mistyped)?;
    Ok(DecimalColumn { array, scale })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, StringArray};

    use super::*;
    use crate::parse_config;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn parses_what_people_write() {
        assert_eq!((d("12").units(), d("12").scale()), (12, 0));
        assert_eq!((d("-0.50").units(), d("-0.50").scale()), (-50, 2));
        assert_eq!((d("+3.").units(), d("+3.").scale()), (3, 0));
        assert_eq!((d(".5").units(), d(".5").scale()), (5, 1));
        assert_eq!(d("-170141183460469231731687303715884105728").units(), i128::MIN);
        assert_eq!(d(&format!("0.{}", "9".repeat(38))).scale(), 38);
        for bad in ["", "-", ".", "1e3", "1,5", "1.2.3", " 1", "0x10", "١٢"] {
            assert_eq!(bad.parse::<Decimal>().unwrap_err().to_string(), format!("expected a decimal, got {bad:?}"));
        }
        assert!(
            format!("0.{}", "1".repeat(39))
                .parse::<Decimal>()
                .unwrap_err()
                .to_string()
                .ends_with("(more than 38 digits after the point)")
        );
        assert!(
            "170141183460469231731687303715884105728"
                .parse::<Decimal>()
                .unwrap_err()
                .to_string()
                .ends_with("(too many digits)")
        );
    }

    #[test]
    fn displays_with_its_own_scale() {
        assert_eq!(d("1.50").to_string(), "1.50");
        assert_eq!(d("-0.05").to_string(), "-0.05");
        assert_eq!(format!("{:?}", d("7")), "Decimal(7)");
        assert_eq!(d("1.500").normalize().to_string(), "1.5");
        assert_eq!(d("-10.00").normalize().to_string(), "-10");
    }

    #[test]
    fn compares_by_value_across_scales() {
        assert_eq!(d("10.00"), d("10"));
        assert!(d("19.99") > d("1.999"));
        assert!(d("-0.5") < d("-0.49"));
        assert!(d("-1") < d("-0.999"));
        assert!(d("0.00000000000000000000000000000000000001") > Decimal::ZERO);
        let max = Decimal::new(i128::MAX, 0);
        let min = Decimal::new(i128::MIN, 38);
        assert!(max > Decimal::new(i128::MAX, 38) && min < Decimal::new(i128::MIN + 1, 38));
        // Against a plain rescale wherever that does not overflow.
        let values = [0i128, 1, -1, 7, -7, 99, -100, 12_345, -99_999, 10i128.pow(20) + 3];
        for a in values {
            for b in values {
                for sb in [0u8, 1, 2, 5, 17] {
                    for sa in [0u8, 3, 17] {
                        let (x, y) = (Decimal::new(a, sa), Decimal::new(b, sb));
                        let s = sa.max(sb);
                        let want = (a * 10i128.pow(u32::from(s - sa))).cmp(&(b * 10i128.pow(u32::from(s - sb))));
                        assert_eq!(x.cmp(&y), want, "{x} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn equal_values_hash_alike() {
        use std::collections::HashSet;
        let set: HashSet<Decimal> = [d("1.50"), d("1.5"), d("1.500"), d("2")].into_iter().collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn arithmetic_is_exact_or_refused() {
        assert_eq!(d("19.99") * 3, d("59.97"));
        assert_eq!((d("0.1") + d("0.02")).to_string(), "0.12");
        assert_eq!((d("1") - d("0.001")).to_string(), "0.999");
        assert_eq!((d("1.5") * d("-0.25")).to_string(), "-0.375");
        assert_eq!(-d("2.50"), d("-2.5"));
        assert_eq!(Decimal::new(i128::MAX, 0).checked_add(d("1")), None);
        assert_eq!(Decimal::new(1, 20).checked_mul(Decimal::new(1, 19)), None);
        assert_eq!(Decimal::new(i128::MIN, 0).checked_neg(), None);
        assert_eq!(d("1.23").rescale(5), Some(Decimal::new(123_000, 5)));
        assert_eq!(d("1.230").rescale(2).map(Decimal::units), Some(123));
        assert_eq!(d("1.235").rescale(2), None);
        assert_eq!(d("1").rescale(39), None);
        let overflow = std::panic::catch_unwind(|| Decimal::new(i128::MAX, 2) * 2).unwrap_err();
        assert_eq!(
            overflow.downcast_ref::<String>().unwrap(),
            &format!("decimal overflow: {} * 2", Decimal::new(i128::MAX, 2))
        );
    }

    #[derive(Debug, serde::Deserialize)]
    struct Config {
        amount: Decimal,
    }

    fn amount(json: &str) -> Result<Decimal, Error> {
        parse_config::<Config>(json).map(|c| c.amount)
    }

    #[test]
    fn reads_from_config_strings_and_numbers() {
        assert_eq!(amount(r#"{"amount": "100.10"}"#).unwrap().to_string(), "100.10");
        assert_eq!(amount(r#"{"amount": 100.10}"#).unwrap().to_string(), "100.1");
        assert_eq!(amount(r#"{"amount": -7}"#).unwrap(), d("-7"));
        assert_eq!(amount(r#"{"amount": 18446744073709551615}"#).unwrap(), d("18446744073709551615"));
        assert_eq!(amount(r#"{"amount": 1.5e3}"#).unwrap(), d("1500"));
        assert_eq!(amount(r#"{"amount": 0.000001}"#).unwrap(), d("0.000001"));
        assert_eq!(amount(r#"{"amount": 123456789.012345}"#).unwrap(), d("123456789.012345"));
        let error = amount(r#"{"amount": "lots"}"#).unwrap_err();
        assert!(error.message().starts_with(r#"amount: expected a decimal, got "lots""#), "{error}");
        let error = amount(r#"{"amount": 0.1234567890123456}"#).unwrap_err();
        assert!(error.message().contains("write the decimal as a string"), "{error}");
        let error = amount(r#"{"amount": true}"#).unwrap_err();
        assert!(error.message().contains("expected a decimal, as a string"), "{error}");
    }

    #[test]
    fn reads_decimal_columns_of_any_precision_and_scale() {
        let column = |array: ArrayRef| RecordBatch::try_from_iter([("price", array)]).unwrap();
        for (precision, scale) in [(10, 2), (38, 0), (18, 4), (38, 38)] {
            let array = Decimal128Array::from(vec![Some(12_345), None]).with_precision_and_scale(precision, scale);
            let batch = column(Arc::new(array.unwrap()));
            let prices = decimal_column(&batch, "price").unwrap();
            assert_eq!(prices.value(0), Some(Decimal::new(12_345, scale as u8)));
            assert_eq!(prices.iter().collect::<Vec<_>>(), [Some(Decimal::new(12_345, scale as u8)), None]);
            assert_eq!((prices.len(), prices.scale()), (2, scale as u8));
        }
        let negative = Decimal128Array::from(vec![1]).with_precision_and_scale(5, -2).unwrap();
        let error = decimal_column(&column(Arc::new(negative)), "price").unwrap_err();
        assert_eq!(
            error,
            Error::input("column `price` has a negative scale (Decimal128(5, -2)), which stages cannot read")
        );
        let text = column(Arc::new(StringArray::from(vec!["1"])));
        assert_eq!(
            decimal_column(&text, "price").unwrap_err(),
            Error::input("column `price` has type Utf8, expected a Decimal128")
        );
        assert_eq!(decimal_column(&text, "cost").unwrap_err(), Error::input("missing required column `cost`"));
    }
}
