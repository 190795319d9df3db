//! Calendar dates as Arrow's `Date32` counts them, days since 1970-01-01, in the proleptic
//! Gregorian calendar (today's rules, extended to every year before 1582 and to years 0 and
//! below): conversion to and from (year, month, day), month lengths, reading and writing
//! `YYYY-MM-DD`. The host's CSV ingestion, the plugins and the sample data generator all count
//! days with these functions.
//!
//! The conversions are Howard Hinnant's `civil_from_days` and `days_from_civil`
//! (<https://howardhinnant.github.io/date_algorithms.html>): exact integer arithmetic over eras
//! of 400 years (146 097 days), with years counted from March 1 so that the leap day is the last
//! day of a year.
//!
//! ```
//! use etl_format::dates::{self, IsoDate};
//!
//! assert_eq!(dates::civil_from_days(11_016), (2000, 2, 29));
//! assert_eq!(dates::days_from_civil(2000, 2, 29), 11_016);
//! assert_eq!(dates::parse_date("2000-02-29"), Some(11_016));
//! assert_eq!(dates::parse_date("1900-02-29"), None); // 1900 is not a leap year
//! assert_eq!(IsoDate(-1).to_string(), "1969-12-31");
//! ```

use std::fmt;

/// Days from 0000-03-01, the start of an era, to 1970-01-01.
const EPOCH_FROM_ERA_START: i64 = 719_468;
/// Days in an era of 400 years: 97 of them leap years.
const DAYS_PER_ERA: i64 = 146_097;

/// The (year, month 1-12, day 1-31) of the date `days` after 1970-01-01 (before it when
/// negative). Years are astronomical: the year before 1 is 0, the one before that -1.
///
/// Exact for every `days` up to `i64::MAX - 719_468` (any `Date32`, and far beyond).
#[inline]
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + EPOCH_FROM_ERA_START; // days since 0000-03-01
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z.rem_euclid(DAYS_PER_ERA); // [0, 146096]
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365], from March 1
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1; // [1, 31]
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 }; // [1, 12]
    let year = year_of_era + era * 400 + (month <= 2) as i64;
    // Month and day are in the ranges above, so the casts are exact.
    (year, month as u32, day as u32)
}

/// Days since 1970-01-01 of `year`-`month`-`day`, the inverse of [`civil_from_days`].
///
/// `month` must be 1-12; `day` is not checked against the month, so day 0 or 32 count on from
/// the month's start (use [`parse_date`] to read only real dates).
#[inline]
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (month as i64, day as i64);
    let year = if month <= 2 { year - 1 } else { year }; // years start on March 1
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400; // [0, 399]
    let month_from_march = if month > 2 { month - 3 } else { month + 9 }; // [0, 11]
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year; // [0, 146096]
    era * DAYS_PER_ERA + day_of_era - EPOCH_FROM_ERA_START
}

/// Whether `year` has a February 29.
#[inline]
pub const fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The number of days in `month` (1-12) of `year`, and 0 for a month outside 1-12, so that
/// `(1..=days_in_month(year, month)).contains(&day)` is whether the date exists.
#[inline]
pub const fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of `text` if it is a real calendar date written exactly `YYYY-MM-DD`
/// (ASCII digits, years 0000-9999); `None` for anything else (`2023-02-29`, `2024-1-01`).
pub fn parse_date(text: &str) -> Option<i64> {
    let &[y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = text.as_bytes() else {
        return None;
    };
    let number = |digits: &[u8]| -> Option<u32> {
        digits.iter().try_fold(0, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let (year, month, day) = (i64::from(number(&[y1, y2, y3, y4])?), number(&[m1, m2])?, number(&[d1, d2])?);
    (1..=days_in_month(year, month)).contains(&day).then(|| days_from_civil(year, month, day))
}

/// The date `.0` days after 1970-01-01, displayed `YYYY-MM-DD`.
///
/// Years outside 0-9999 are written as `{:04}` writes them: `10000-01-01`, `-001-12-31`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoDate(pub i64);

impl fmt::Display for IsoDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.0);
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last day of `month` in `year`, by the calendar's rules as usually stated.
    fn month_length(year: i64, month: u32) -> u32 {
        match month {
            2 if year % 400 == 0 => 29,
            2 if year % 100 == 0 => 28,
            2 if year % 4 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    #[test]
    fn known_dates() {
        let cases = [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (11_016, (2000, 2, 29)),
            (11_017, (2000, 3, 1)),
            (19_416, (2023, 2, 28)),
            (19_417, (2023, 3, 1)),
            (19_782, (2024, 2, 29)),
            (-25_509, (1900, 2, 28)),
            (-25_508, (1900, 3, 1)), // 1900 is not a leap year
            (-719_162, (1, 1, 1)),
            (-719_528, (0, 1, 1)),
            (-719_529, (-1, 12, 31)),
            (2_932_896, (9999, 12, 31)),
            (2_932_897, (10_000, 1, 1)),
            (i64::from(i32::MAX), (5_881_580, 7, 11)),
            (i64::from(i32::MIN), (-5_877_641, 6, 23)),
        ];
        for (days, (year, month, day)) in cases {
            assert_eq!(civil_from_days(days), (year, month, day), "{days}");
            assert_eq!(days_from_civil(year, month, day), days, "{year}-{month}-{day}");
        }
    }

    /// Every day from 0000-01-01 to 9999-12-31, against a calendar stepped a day at a time.
    #[test]
    fn every_day_of_ten_millennia_in_order() {
        let (mut year, mut month, mut day) = (0, 1, 1);
        for days in -719_528..=2_932_896 {
            assert_eq!(civil_from_days(days), (year, month, day), "{days}");
            assert_eq!(days_from_civil(year, month, day), days, "{year}-{month}-{day}");
            day += 1;
            if day > month_length(year, month) {
                (month, day) = (month + 1, 1);
                if month > 12 {
                    (year, month) = (year + 1, 1);
                }
            }
        }
        assert_eq!((year, month, day), (10_000, 1, 1));
    }

    #[test]
    fn round_trips_far_before_and_after_the_epoch() {
        for days in (-4_000_000_000_i64..=4_000_000_000).step_by(9_973).chain([i64::MAX - EPOCH_FROM_ERA_START]) {
            let (year, month, day) = civil_from_days(days);
            assert!((1..=12).contains(&month) && (1..=month_length(year, month)).contains(&day), "{days}");
            assert_eq!(days_from_civil(year, month, day), days, "{days}");
        }
    }

    #[test]
    fn leap_years() {
        for (year, leap) in
            [(2000, true), (2024, true), (1900, false), (2023, false), (0, true), (-4, true), (-100, false)]
        {
            assert_eq!(is_leap_year(year), leap, "{year}");
        }
    }

    #[test]
    fn month_lengths_and_months_that_do_not_exist() {
        for year in [-400, -100, -4, -1, 0, 1900, 2000, 2023, 2024, 2100] {
            for month in 1..=12 {
                assert_eq!(days_in_month(year, month), month_length(year, month), "{year}-{month}");
            }
            assert_eq!((days_in_month(year, 0), days_in_month(year, 13)), (0, 0), "{year}");
        }
    }

    #[test]
    fn reads_only_real_dates_written_in_full() {
        for (text, days) in [
            ("1970-01-01", 0),
            ("1969-12-31", -1),
            ("2000-02-29", 11_016),
            ("2024-02-29", 19_782),
            ("0000-01-01", -719_528),
            ("9999-12-31", 2_932_896),
        ] {
            assert_eq!(parse_date(text), Some(days), "{text}");
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2026-04-31",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-01-32",
            "2024-1-01",
            "24-01-01x",
            "2024-01-01 ",
            "2024/01/01",
            "+024-01-01",
            "abcd-ef-gh",
            "２０２６-11-25",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn writes_iso_dates() {
        assert_eq!(IsoDate(0).to_string(), "1970-01-01");
        assert_eq!(IsoDate(19_723).to_string(), "2024-01-01");
        assert_eq!(IsoDate(-1).to_string(), "1969-12-31");
        assert_eq!(IsoDate(11_016).to_string(), "2000-02-29");
        assert_eq!(IsoDate(2_932_896).to_string(), "9999-12-31");
        assert_eq!(IsoDate(-719_162).to_string(), "0001-01-01");
        assert_eq!(IsoDate(2_932_897).to_string(), "10000-01-01");
        assert_eq!(IsoDate(-719_529).to_string(), "-001-12-31");
        for days in (-719_528..=2_932_896).step_by(97) {
            assert_eq!(parse_date(&IsoDate(days).to_string()), Some(days), "{days}");
        }
    }
}
