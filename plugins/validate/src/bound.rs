//! The bounds of an `in_range` rule: exact decimals and ISO dates, read from the config, and the
//! integer range they make at a column's scale, so every comparison is exact integer arithmetic.

use std::cmp::Ordering;
use std::fmt;

use etl_sdk::dates::{self, IsoDate};
use etl_sdk::decimal::DecimalText;
use etl_sdk::serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A bound as written in the config, before it is checked: whatever JSON value was given. Reading
/// every value (rather than letting serde refuse some) lets `open` name the key in its message.
#[derive(Debug, Clone, PartialEq)]
pub enum RawBound {
    Integer(i128),
    Float(f64),
    Text(String),
    /// Anything else, described for the error message (`true`, `a list`).
    Other(String),
}

impl<'de> Deserialize<'de> for RawBound {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawBoundVisitor)
    }
}

struct RawBoundVisitor;

impl<'de> Visitor<'de> for RawBoundVisitor {
    type Value = RawBound;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a decimal string or an ISO date")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawBound, E> {
        Ok(RawBound::Other(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawBound, E> {
        Ok(RawBound::Integer(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawBound, E> {
        Ok(RawBound::Integer(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawBound, E> {
        Ok(RawBound::Integer(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawBound, E> {
        Ok(RawBound::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawBound, E> {
        Ok(RawBound::Text(v.to_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawBound, E> {
        Ok(RawBound::Other("null".to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawBound, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawBound::Other("a list".to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawBound, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RawBound::Other("a map".to_owned()))
    }
}

impl fmt::Display for RawBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawBound::Integer(v) => write!(f, "{v}"),
            RawBound::Float(v) => write!(f, "{v}"),
            RawBound::Text(v) => write!(f, "{v:?}"),
            RawBound::Other(v) => f.write_str(v),
        }
    }
}

/// A checked bound: an exact decimal or a calendar date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Number(Decimal),
    /// Days since 1970-01-01, as in an Arrow `Date32`.
    Date(i32),
}

impl Bound {
    /// Reads a bound: a JSON number (an integer, or a float read back from its shortest
    /// round-trip form, so `0.01` is exactly 1/100), a decimal string (`"0.01"`), or an ISO
    /// date string (`"2024-01-31"`). The error says why, for the caller to prefix with the key.
    pub fn parse(raw: &RawBound) -> Result<Self, String> {
        let expected =
            || format!("must be a number (e.g. 1000 or \"0.01\") or an ISO date (\"2024-01-31\"), got {raw}");
        let number = |text: &str| match Decimal::parse(text) {
            Some(decimal) => Ok(Bound::Number(decimal)),
            None if is_decimal_syntax(text) => {
                Err(format!("{raw} has too many digits (38 significant digits at most)"))
            }
            None => Err(expected()),
        };
        match raw {
            RawBound::Integer(v) => Ok(Bound::Number(Decimal { mantissa: *v, scale: 0 })),
            RawBound::Float(v) => number(&v.to_string()),
            RawBound::Text(text) if looks_like_date(text) => {
                parse_date(text).map(Bound::Date).ok_or_else(|| format!("{text:?} is not a valid date"))
            }
            RawBound::Text(text) => number(text),
            RawBound::Other(_) => Err(expected()),
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Number(decimal) => decimal.fmt(f),
            Bound::Date(days) => IsoDate(i64::from(*days)).fmt(f),
        }
    }
}

/// An exact decimal: `mantissa / 10^scale`, with no trailing zeros in the fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    mantissa: i128,
    /// Fraction digits, never negative.
    scale: i32,
}

impl Decimal {
    /// Reads `[+-]?digits[.digits]`; `None` if it is not one or has more digits than an `i128`
    /// holds (38 significant digits always fit).
    pub fn parse(text: &str) -> Option<Self> {
        if !is_decimal_syntax(text) {
            return None;
        }
        let negative = text.starts_with('-');
        let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
        let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let fraction = fraction.trim_end_matches('0');
        let mut mantissa: i128 = 0;
        for digit in integer.bytes().chain(fraction.bytes()) {
            mantissa = mantissa.checked_mul(10)?.checked_add(i128::from(digit - b'0'))?;
        }
        let scale = i32::try_from(fraction.len()).ok()?;
        Some(Decimal { mantissa: if negative { -mantissa } else { mantissa }, scale })
    }

    fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// This value as an integer count of `10^-scale` units, rounded up (`ceil`) or down; `None`
    /// if that does not fit an `i128`. `scale` may be negative, as an Arrow decimal's may.
    fn at_scale(&self, scale: i32, ceil: bool) -> Option<i128> {
        let shift = i64::from(scale) - i64::from(self.scale);
        if self.mantissa == 0 {
            return Some(0);
        }
        if shift >= 0 {
            return self.mantissa.checked_mul(pow10(shift)?);
        }
        // Dividing: Rust truncates toward zero and the remainder has the dividend's sign. A
        // divisor too large for an i128 exceeds every mantissa, so the quotient is 0.
        let (quotient, remainder) = match pow10(-shift) {
            Some(divisor) => (self.mantissa / divisor, self.mantissa % divisor),
            None => (0, self.mantissa),
        };
        Some(match (ceil, remainder.cmp(&0)) {
            (true, Ordering::Greater) => quotient + 1,
            (false, Ordering::Less) => quotient - 1,
            _ => quotient,
        })
    }
}

/// Whether `text` is `[+-]?digits[.digits]`.
fn is_decimal_syntax(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (integer, fraction) = unsigned.split_once('.').map_or((unsigned, None), |(i, f)| (i, Some(f)));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(integer) && fraction.is_none_or(digits)
}

fn pow10(exponent: i64) -> Option<i128> {
    10i128.checked_pow(u32::try_from(exponent).ok()?)
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        // Brings the value with fewer decimals to the other's scale. If that overflows, its
        // magnitude is beyond any i128, so beyond the other's: its sign decides.
        let scaled_cmp = |a: &Decimal, b: &Decimal| match pow10(i64::from(b.scale) - i64::from(a.scale))
            .and_then(|factor| a.mantissa.checked_mul(factor))
        {
            Some(a_scaled) => a_scaled.cmp(&b.mantissa),
            None if a.is_negative() => Ordering::Less,
            None => Ordering::Greater,
        };
        match (self.mantissa, other.mantissa) {
            (0, _) | (_, 0) => self.mantissa.cmp(&other.mantissa),
            _ if self.scale <= other.scale => scaled_cmp(self, other),
            _ => scaled_cmp(other, self).reverse(),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DecimalText::new(self.mantissa, self.scale).fmt(f)
    }
}

/// An inclusive range of integers: a column's values at the column's scale (integers at 0,
/// decimals at theirs, dates in days) against bounds converted to the same units, rounded
/// inward, so `lo <= v && v <= hi` is the exact comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    pub lo: i128,
    pub hi: i128,
}

impl IntRange {
    /// Contains nothing: every value fails.
    const EMPTY: IntRange = IntRange { lo: i128::MAX, hi: i128::MIN };

    /// The values `v` of a column with `scale` (`v / 10^scale`) that lie within `[min, max]`.
    pub fn decimal(min: Option<&Decimal>, max: Option<&Decimal>, scale: i32) -> IntRange {
        let lo = match min.map(|min| (min, min.at_scale(scale, true))) {
            None => i128::MIN,
            Some((_, Some(lo))) => lo,
            // A bound beyond every i128 is below every value or above every value.
            Some((min, None)) if min.is_negative() => i128::MIN,
            Some((_, None)) => return IntRange::EMPTY,
        };
        let hi = match max.map(|max| (max, max.at_scale(scale, false))) {
            None => i128::MAX,
            Some((_, Some(hi))) => hi,
            Some((max, None)) if max.is_negative() => return IntRange::EMPTY,
            Some((_, None)) => i128::MAX,
        };
        IntRange { lo, hi }
    }

    /// Dates (days since the epoch) within `[min, max]`.
    pub fn days(min: Option<i32>, max: Option<i32>) -> IntRange {
        IntRange { lo: min.map_or(i128::MIN, i128::from), hi: max.map_or(i128::MAX, i128::from) }
    }

    #[inline]
    pub fn contains(&self, value: i128) -> bool {
        self.lo <= value && value <= self.hi
    }
}

fn looks_like_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-'
}

/// Reads a real calendar date `YYYY-MM-DD` as days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<i32> {
    dates::parse_date(text).and_then(|days| i32::try_from(days).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(dec("0.01"), Decimal { mantissa: 1, scale: 2 });
        assert_eq!(dec("100000.00"), Decimal { mantissa: 100_000, scale: 0 });
        assert_eq!(dec("-1.50"), Decimal { mantissa: -15, scale: 1 });
        assert_eq!(dec("+7"), Decimal { mantissa: 7, scale: 0 });
        for bad in
            ["", "-", ".5", "5.", "1e3", "1.2.3", " 1", "abc", "1,5", "99999999999999999999999999999999999999999"]
        {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
        assert_eq!(dec("0.005").to_string(), "0.005");
        assert_eq!(dec("-12.5").to_string(), "-12.5");
    }

    #[test]
    fn floats_read_as_written() {
        assert_eq!(Bound::parse(&RawBound::Float(0.01)), Ok(Bound::Number(dec("0.01"))));
        assert_eq!(Bound::parse(&RawBound::Float(100000.0)), Ok(Bound::Number(dec("100000"))));
        let long = "1".repeat(40);
        assert_eq!(
            Bound::parse(&RawBound::Text(long.clone())),
            Err(format!("\"{long}\" has too many digits (38 significant digits at most)"))
        );
        assert_eq!(
            Bound::parse(&RawBound::Float(1e300)).unwrap_err(),
            format!("1{} has too many digits (38 significant digits at most)", "0".repeat(300))
        );
    }

    #[test]
    fn converts_bounds_to_a_scale_rounding_inward() {
        // 0.005 at scale 2: the smallest value >= 0.005 is 0.01, the largest <= is 0.00.
        assert_eq!(IntRange::decimal(Some(&dec("0.005")), Some(&dec("0.005")), 2), IntRange { lo: 1, hi: 0 });
        assert_eq!(IntRange::decimal(Some(&dec("-0.005")), Some(&dec("-0.005")), 2), IntRange { lo: 0, hi: -1 });
        assert_eq!(IntRange::decimal(Some(&dec("1.5")), Some(&dec("2.5")), 0), IntRange { lo: 2, hi: 2 });
        // A negative scale counts hundreds.
        assert_eq!(IntRange::decimal(Some(&dec("150")), None, -2), IntRange { lo: 2, hi: i128::MAX });
        // Bounds beyond any i128 at this scale.
        let huge = dec("99999999999999999999999999999999999999");
        assert_eq!(IntRange::decimal(Some(&huge), None, 10), IntRange::EMPTY);
        assert_eq!(IntRange::decimal(None, Some(&huge), 10), IntRange { lo: i128::MIN, hi: i128::MAX });
        let tiny = dec("0.00000000000000000000000000000000000000000001");
        assert_eq!(IntRange::decimal(Some(&tiny), Some(&tiny), 2), IntRange { lo: 1, hi: 0 });
    }

    #[test]
    fn compares_decimals_exactly() {
        assert!(dec("0.01") < dec("0.010000000000000000000000000000000000001"));
        assert!(dec("-5") < dec("-4.99"));
        assert_eq!(dec("1.0").cmp(&dec("1")), Ordering::Equal);
        assert!(dec("99999999999999999999999999999999999999") > dec("0.1"));
        assert!(dec("-99999999999999999999999999999999999999") < dec("0.1"));
    }

    /// The calendar itself is tested in `etl_sdk::dates`; this is the bound's use of it.
    #[test]
    fn date_bounds_are_real_calendar_dates() {
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(Bound::parse(&RawBound::Text("1969-12-31".into())), Ok(Bound::Date(-1)));
        assert_eq!(
            Bound::parse(&RawBound::Text("2023-02-29".into())),
            Err("\"2023-02-29\" is not a valid date".into())
        );
        for days in [-700_000, -1, 0, 19_782, 2_900_000] {
            let text = Bound::Date(days).to_string();
            assert_eq!(parse_date(&text), Some(days), "{text}");
        }
    }
}
