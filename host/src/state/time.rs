//! Timestamps as the run store keeps them (unix milliseconds) and shows them (RFC 3339, UTC),
//! plus the check for a logical date; the calendar arithmetic is [`etl_format::dates`].

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use etl_format::dates;
use serde::ser::{Serialize, SerializeStruct, Serializer};

const MS_PER_DAY: i64 = 86_400_000;

/// A point in time, in milliseconds since the unix epoch (UTC).
///
/// Serialized as `{"unix_ms": 1795633620123, "utc": "2026-11-25T19:07:00.123Z"}`; displayed as
/// the RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The timestamp `ms` milliseconds after the unix epoch (before it when negative).
    pub const fn from_unix_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// The current time of the system clock.
    pub fn now() -> Self {
        SystemTime::now().into()
    }

    /// Seconds from `self` to `later`; a clock that went backwards gives 0, not a negative span.
    pub fn seconds_until(self, later: Timestamp) -> f64 {
        later.0.saturating_sub(self.0).max(0) as f64 / 1000.0
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-25T19:07:00.123Z`.
    pub fn rfc3339(self) -> String {
        let c = Civil::from(self);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
        )
    }

    /// Compact UTC form to the second, as run ids start: `20261125T190700Z`.
    pub(super) fn compact(self) -> String {
        let c = Civil::from(self);
        format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
    }

    /// UTC to the second for tables: `2026-11-25 19:07:00`.
    pub(super) fn table_form(self) -> String {
        let c = Civil::from(self);
        format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(millis(after)),
            Err(before) => Self(-millis(before.duration())),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Timestamp", 2)?;
        s.serialize_field("unix_ms", &self.0)?;
        s.serialize_field("utc", &self.rfc3339())?;
        s.end()
    }
}

/// A timestamp broken into UTC calendar fields.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
}

impl From<Timestamp> for Civil {
    fn from(ts: Timestamp) -> Self {
        let days = ts.0.div_euclid(MS_PER_DAY);
        let ms_of_day = ts.0.rem_euclid(MS_PER_DAY);
        let (year, month, day) = dates::civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: ms_of_day / 3_600_000,
            minute: ms_of_day / 60_000 % 60,
            second: ms_of_day / 1000 % 60,
            millis: ms_of_day % 1000,
        }
    }
}

/// Whether `date` is a real calendar date written `YYYY-MM-DD`.
pub(super) fn is_logical_date(date: &str) -> bool {
    dates::parse_date(date).is_some()
}
