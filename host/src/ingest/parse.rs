//! Strict value parsers over raw field bytes (settled detail 6): no surrounding whitespace, no
//! rounding, no allocation. Each returns `None` for anything outside its grammar.

use etl_format::dates;

/// `[+-]?digits` that fits in an `i64`.
pub(super) fn parse_int64(field: &[u8]) -> Option<i64> {
    let (negative, digits) = split_sign(field);
    if digits.is_empty() {
        return None;
    }
    // Accumulate negatively so that i64::MIN, whose magnitude has no positive i64, parses too.
    let mut value: i64 = 0;
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(digit))?;
    }
    if negative { Some(value) } else { value.checked_neg() }
}

/// `[+-]?digits[.digits]` as a `decimal(precision, scale)`, returned unscaled (`1.2` at scale 2
/// is 120).
///
/// Digits are required on both sides of a dot (`.5` and `5.` are errors), the fraction has at most
/// `scale` digits (`1.234` at scale 2 is an error, never rounded) and the integer part at most
/// `precision - scale` significant digits: leading zeros don't count, so `007.50` fits
/// decimal(3,2) and `0.5` fits decimal(2,2). The caller guarantees `scale <= precision <= 38`.
pub(super) fn parse_decimal(field: &[u8], precision: u8, scale: u8) -> Option<i128> {
    let (negative, number) = split_sign(field);
    let (integer, fraction) = match number.iter().position(|&byte| byte == b'.') {
        Some(dot) => {
            let fraction = &number[dot + 1..];
            if fraction.is_empty() || fraction.len() > usize::from(scale) {
                return None;
            }
            (&number[..dot], fraction)
        }
        None => (number, &[][..]),
    };
    if integer.is_empty() {
        return None;
    }
    let significant = &integer[integer.iter().position(|&byte| byte != b'0').unwrap_or(integer.len())..];
    if significant.len() > usize::from(precision - scale) {
        return None;
    }
    // At most 38 digits in all, so the unscaled value fits an i128 (10^38 < 2^127).
    let value = append_digits(append_digits(0, significant)?, fraction)?;
    let value = value * 10_i128.pow(u32::from(scale) - fraction.len() as u32);
    Some(if negative { -value } else { value })
}

/// `value` with `digits` appended, or `None` if one isn't an ASCII digit. No overflow check:
/// the caller bounds the number of digits.
fn append_digits(mut value: i128, digits: &[u8]) -> Option<i128> {
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + i128::from(digit);
    }
    Some(value)
}

/// `YYYY-MM-DD`, a real date of the proleptic Gregorian calendar, as days since 1970-01-01.
pub fn parse_date(field: &[u8]) -> Option<i32> {
    let &[y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = field else {
        return None;
    };
    let year = i64::from(digits([y1, y2, y3, y4])?);
    let month = digits([m1, m2])?;
    let day = digits([d1, d2])?;
    if !(1..=dates::days_in_month(year, month)).contains(&day) {
        return None;
    }
    // Years 0000-9999 are within 3 million days of 1970, so the count fits an i32.
    Some(dates::days_from_civil(year, month, day) as i32)
}

/// An optional leading sign, and the rest.
fn split_sign(field: &[u8]) -> (bool, &[u8]) {
    match field {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, field),
    }
}

/// The value of a few ASCII digits.
fn digits<const N: usize>(bytes: [u8; N]) -> Option<u32> {
    bytes.iter().try_fold(0, |value, &byte| {
        let digit = byte.wrapping_sub(b'0');
        (digit <= 9).then_some(value * 10 + u32::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int64_grammar() {
        let int = |text: &str| parse_int64(text.as_bytes());
        assert_eq!(int("0"), Some(0));
        assert_eq!(int("42"), Some(42));
        assert_eq!(int("+42"), Some(42));
        assert_eq!(int("-42"), Some(-42));
        assert_eq!(int("007"), Some(7));
        assert_eq!(int("9223372036854775807"), Some(i64::MAX));
        assert_eq!(int("-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "+",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "abc",
            "12a",
            "--1",
            "+-1",
            "9223372036854775808",
            "-9223372036854775809",
        ] {
            assert_eq!(int(bad), None, "{bad:?}");
        }
        assert_eq!(int("99999999999999999999999"), None);
    }

    #[test]
    fn decimal_grammar_at_10_2() {
        let dec = |text: &str| parse_decimal(text.as_bytes(), 10, 2);
        assert_eq!(dec("0"), Some(0));
        assert_eq!(dec("1.2"), Some(120));
        assert_eq!(dec("1.23"), Some(123));
        assert_eq!(dec("12"), Some(1200));
        assert_eq!(dec("-0.01"), Some(-1));
        assert_eq!(dec("+3.50"), Some(350));
        assert_eq!(dec("-0.00"), Some(0));
        assert_eq!(dec("99999999.99"), Some(9_999_999_999));
        assert_eq!(dec("-99999999.99"), Some(-9_999_999_999));
        assert_eq!(dec("00000000012.5"), Some(1250));
        for bad in [
            "",
            "-",
            "+",
            ".",
            ".5",
            "5.",
            "-.5",
            "1.234",
            "1.2.3",
            " 1",
            "1 ",
            "1,5",
            "1e2",
            "abc",
            "12.3x",
            "100000000.00",
            "100000000",
            "--1",
            "0x10",
            "1..2",
        ] {
            assert_eq!(dec(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn decimal_grammar_at_other_precisions() {
        assert_eq!(parse_decimal(b"0.5", 2, 2), Some(50));
        assert_eq!(parse_decimal(b"1.5", 2, 2), None);
        assert_eq!(parse_decimal(b"123", 3, 0), Some(123));
        assert_eq!(parse_decimal(b"1.0", 3, 0), None);
        let max38 = "9".repeat(36) + ".99";
        assert_eq!(parse_decimal(max38.as_bytes(), 38, 2), Some(10_i128.pow(38) - 1));
        let over38 = "9".repeat(37) + ".99";
        assert_eq!(parse_decimal(over38.as_bytes(), 38, 2), None);
        assert_eq!(parse_decimal(b"-1", 38, 38), None);
    }

    #[test]
    fn date_grammar() {
        let date = |text: &str| parse_date(text.as_bytes());
        assert_eq!(date("1970-01-01"), Some(0));
        assert_eq!(date("1969-12-31"), Some(-1));
        assert_eq!(date("2000-03-01"), Some(11_017));
        assert_eq!(date("2024-02-29"), Some(19_782));
        assert_eq!(date("2000-02-29"), Some(11_016));
        assert_eq!(date("0000-01-01"), Some(-719_528));
        assert_eq!(date("9999-12-31"), Some(2_932_896));
        for bad in [
            "",
            "2023-02-29",
            "1900-02-29",
            "2023-02-30",
            "2023-04-31",
            "2023-13-01",
            "2023-00-10",
            "2023-01-00",
            "2023-01-32",
            "2023-1-01",
            "2023-01-1",
            "23-01-01",
            " 2023-01-01",
            "2023-01-01 ",
            "2023/01/01",
            "20230101",
            "2023-01-01T00:00",
            "+023-01-01",
            "2023-0a-01",
        ] {
            assert_eq!(date(bad), None, "{bad:?}");
        }
    }

    /// Walking the calendar day by day gives consecutive day numbers, so every month length and
    /// leap rule agrees with the day count.
    #[test]
    fn dates_are_consecutive_over_centuries() {
        let mut expected = parse_date(b"1899-12-31").unwrap();
        for year in 1900..=2101 {
            for month in 1..=12 {
                for day in 1..=dates::days_in_month(year, month) {
                    expected += 1;
                    let text = format!("{year:04}-{month:02}-{day:02}");
                    assert_eq!(parse_date(text.as_bytes()), Some(expected), "{text}");
                }
            }
        }
    }
}
