//! Decimals as Arrow's `Decimal128` stores them, an unscaled integer and a scale meaning
//! `value / 10^scale`, written as text: the one formatter of the host's CSV reports and of every
//! message that shows a decimal.
//!
//! ```
//! use etl_format::decimal::DecimalText;
//!
//! assert_eq!(DecimalText::new(123_456, 2).to_string(), "1234.56");
//! assert_eq!(DecimalText::new(-5, 2).to_string(), "-0.05");
//! assert_eq!(DecimalText::new(42, -2).to_string(), "4200");
//! ```

use std::fmt;

/// The decimal `value / 10^scale`, displayed with exactly `scale` fraction digits (`-0.50`, never
/// `-0.5`) and no exponent. A negative scale appends `-scale` zeros to the digits (`42` at scale
/// -2 is `4200`, `0` is `000`). Width, fill and precision flags of the format string are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalText {
    /// The unscaled integer: 150 for 1.50 at scale 2.
    pub value: i128,
    /// Fraction digits; any, though a `Decimal128`'s is at most 38.
    pub scale: i32,
}

impl DecimalText {
    pub const fn new(value: i128, scale: i32) -> Self {
        DecimalText { value, scale }
    }
}

impl fmt::Display for DecimalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value < 0 {
            f.write_str("-")?;
        }
        let magnitude = self.value.unsigned_abs();
        let Ok(scale) = u32::try_from(self.scale) else {
            return write!(f, "{magnitude}{:0>zeros$}", "", zeros = self.scale.unsigned_abs() as usize);
        };
        match scale {
            0 => write!(f, "{magnitude}"),
            // 10^38 < 2^128, so the divisor fits a u128.
            1..=38 => {
                let divisor = 10u128.pow(scale);
                write!(f, "{}.{:0width$}", magnitude / divisor, magnitude % divisor, width = scale as usize)
            }
            // A u128 has at most 39 digits, all of them in the fraction, after `scale - 39` zeros.
            _ => write!(f, "0.{:0>zeros$}{magnitude:039}", "", zeros = scale as usize - 39),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: i128, scale: i32) -> String {
        DecimalText::new(value, scale).to_string()
    }

    /// The decimal by string surgery: the digits, zero-padded to more than `scale`, split
    /// `scale` from the end.
    fn by_digits(value: i128, scale: u32) -> String {
        let sign = if value < 0 { "-" } else { "" };
        let digits = format!("{:0>width$}", value.unsigned_abs(), width = scale as usize + 1);
        let (integer, fraction) = digits.split_at(digits.len() - scale as usize);
        if scale == 0 { format!("{sign}{integer}") } else { format!("{sign}{integer}.{fraction}") }
    }

    #[test]
    fn exactly_scale_fraction_digits() {
        assert_eq!(text(0, 0), "0");
        assert_eq!(text(-42, 0), "-42");
        assert_eq!(text(12_345, 2), "123.45");
        assert_eq!(text(-5, 2), "-0.05");
        assert_eq!(text(5, 3), "0.005");
        assert_eq!(text(100, 2), "1.00");
        assert_eq!(text(-50, 2), "-0.50");
        assert_eq!(text(0, 2), "0.00");
        assert_eq!(text(i128::MIN, 2), "-1701411834604692317316873037158841057.28");
        assert_eq!(text(i128::MAX, 0), "170141183460469231731687303715884105727");
        assert_eq!(text(10i128.pow(38) - 1, 38), "0.99999999999999999999999999999999999999");
        assert_eq!(text(i128::MIN, 38), "-1.70141183460469231731687303715884105728");
    }

    #[test]
    fn scales_beyond_a_decimal128s() {
        assert_eq!(text(1, 39), format!("0.{}1", "0".repeat(38)));
        assert_eq!(text(-12, 41), format!("-0.{}12", "0".repeat(39)));
        assert_eq!(text(i128::MIN, 39), "-0.170141183460469231731687303715884105728");
        for value in [0, 7, -7, 10i128.pow(20) + 3, i128::MAX, i128::MIN] {
            for scale in [0, 1, 2, 9, 19, 20, 37, 38, 39, 40, 60] {
                assert_eq!(text(value, scale as i32), by_digits(value, scale), "{value} at {scale}");
            }
        }
    }

    #[test]
    fn negative_scales_append_zeros() {
        assert_eq!(text(42, -2), "4200");
        assert_eq!(text(-42, -1), "-420");
        assert_eq!(text(0, -2), "000");
    }
}
