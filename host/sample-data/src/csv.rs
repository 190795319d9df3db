//! Building CSV lines into a reused buffer: RFC 4180 quoting, integers, money and dates, with no
//! allocation per row.

use etl_format::dates;

/// Appends `text` as one field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
pub(crate) fn push_text(line: &mut Vec<u8>, text: &[u8]) {
    if text.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        line.push(b'"');
        for &b in text {
            if b == b'"' {
                line.push(b'"');
            }
            line.push(b);
        }
        line.push(b'"');
    } else {
        line.extend_from_slice(text);
    }
}

/// Appends `value` in decimal, left-padded with zeros to at least `width` digits (at most 20).
pub(crate) fn push_uint(line: &mut Vec<u8>, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    let start = start.min(digits.len() - width.min(digits.len()));
    line.extend_from_slice(&digits[start..]);
}

/// Appends a signed integer.
pub(crate) fn push_int(line: &mut Vec<u8>, value: i64) {
    if value < 0 {
        line.push(b'-');
    }
    push_uint(line, value.unsigned_abs(), 1);
}

/// Appends an amount of cents as a decimal with exactly two places (`-12.05`).
pub(crate) fn push_cents(line: &mut Vec<u8>, cents: i64) {
    if cents < 0 {
        line.push(b'-');
    }
    let cents = cents.unsigned_abs();
    push_uint(line, cents / 100, 1);
    line.push(b'.');
    push_uint(line, cents % 100, 2);
}

/// Appends an id: a letter and a zero-padded number (`C000123`).
pub(crate) fn push_id(line: &mut Vec<u8>, prefix: u8, number: u64, width: usize) {
    line.push(prefix);
    push_uint(line, number, width);
}

/// Every calendar day of `first_year..=last_year` as `YYYY-MM-DD`, in order.
pub(crate) fn days(first_year: u16, last_year: u16) -> Vec<[u8; 10]> {
    let mut days = Vec::new();
    for year in first_year..=last_year {
        for month in 1..=12 {
            for day in 1..=dates::days_in_month(i64::from(year), month) {
                let mut text = [0u8; 10];
                let mut line = Vec::with_capacity(10);
                push_uint(&mut line, u64::from(year), 4);
                line.push(b'-');
                push_uint(&mut line, u64::from(month), 2);
                line.push(b'-');
                push_uint(&mut line, u64::from(day), 2);
                text.copy_from_slice(&line);
                days.push(text);
            }
        }
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(build: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut line = Vec::new();
        build(&mut line);
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn formats_numbers_ids_and_fields() {
        assert_eq!(text(|l| push_uint(l, 0, 1)), "0");
        assert_eq!(text(|l| push_uint(l, u64::MAX, 1)), "18446744073709551615");
        assert_eq!(text(|l| push_id(l, b'O', 42, 7)), "O0000042");
        assert_eq!(text(|l| push_id(l, b'O', 123_456_789, 7)), "O123456789");
        assert_eq!(text(|l| push_int(l, i64::MIN)), "-9223372036854775808");
        assert_eq!(text(|l| push_cents(l, 5)), "0.05");
        assert_eq!(text(|l| push_cents(l, -1205)), "-12.05");
        assert_eq!(text(|l| push_cents(l, 10_000_000)), "100000.00");
        assert_eq!(text(|l| push_text(l, b"Smith, Jane")), "\"Smith, Jane\"");
        assert_eq!(text(|l| push_text(l, b"Robert \"Bob\" Lee")), "\"Robert \"\"Bob\"\" Lee\"");
        assert_eq!(text(|l| push_text(l, b" plain\t")), " plain\t");
    }

    #[test]
    fn day_tables_cover_leap_years() {
        let days = days(2023, 2024);
        assert_eq!(days.len(), 731);
        assert_eq!(&days[0], b"2023-01-01");
        assert_eq!(&days[365 + 59], b"2024-02-29");
        assert_eq!(&days[730], b"2024-12-31");
    }
}
