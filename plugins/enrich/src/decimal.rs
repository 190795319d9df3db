//! Exact decimal helpers: powers of ten. Decimals are written as text by
//! [`etl_sdk::decimal::DecimalText`].

/// `10^exponent`, or `None` beyond i128.
pub fn pow10(exponent: u8) -> Option<i128> {
    10i128.checked_pow(u32::from(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_ten_stop_at_i128() {
        assert_eq!(pow10(0), Some(1));
        assert_eq!(pow10(18), Some(1_000_000_000_000_000_000));
        assert!(pow10(38).is_some());
        assert_eq!(pow10(39), None);
    }
}
