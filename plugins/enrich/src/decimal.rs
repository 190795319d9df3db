//! Exact decimal helpers: powers of ten and the text of a scaled integer.

/// `10^exponent`, or `None` beyond i128.
pub fn pow10(exponent: u8) -> Option<i128> {
    10i128.checked_pow(u32::from(exponent))
}

/// `value` (an integer at `scale`) as decimal text: `format(-5, 2)` is `-0.05`.
pub fn format(value: i128, scale: u8) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    let scale = usize::from(scale);
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let digits =
        if digits.len() <= scale { format!("{}{digits}", "0".repeat(scale + 1 - digits.len())) } else { digits };
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_scaled_integers() {
        assert_eq!(format(0, 0), "0");
        assert_eq!(format(-42, 0), "-42");
        assert_eq!(format(12345, 2), "123.45");
        assert_eq!(format(-5, 2), "-0.05");
        assert_eq!(format(5, 3), "0.005");
        assert_eq!(format(100, 2), "1.00");
        assert_eq!(format(i128::MIN, 2), "-1701411834604692317316873037158841057.28");
    }

    #[test]
    fn powers_of_ten_stop_at_i128() {
        assert_eq!(pow10(0), Some(1));
        assert_eq!(pow10(18), Some(1_000_000_000_000_000_000));
        assert!(pow10(38).is_some());
        assert_eq!(pow10(39), None);
    }
}
