//! `host schedule`: a pipeline's `schedule:` block ([`Schedule`]: its fire times in a time zone
//! and their logical dates), the lock that keeps two schedulers off one state directory
//! ([`SchedulerLock`]), and the loop that fires runs through [`crate::run::record`]
//! ([`Scheduler`]).
//!
//! # Daylight-saving time
//!
//! Fire times are wall-clock times in the schedule's time zone, one rule for both changes (that
//! of Vixie cron): a wall-clock time a change skips (02:30 on the night clocks go from 02:00 to
//! 03:00) fires at the moment of the change, once however many fire times fall in the gap; a
//! wall-clock time a change repeats (01:30 on the night clocks go back from 02:00 to 01:00) fires
//! once, at its first occurrence. A run's logical date is the fire time's date in the time zone.

mod lock;
mod scheduler;

use std::str::FromStr;

use chrono::{DateTime, Duration as ChronoDuration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

pub use lock::{SchedulerLock, SchedulerLockError};
pub use scheduler::{Event, Scheduler, Shutdown};

use crate::config::{Catchup, ScheduleConfig};
use crate::state::Timestamp;

/// A parsed `schedule:` block.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    pattern: String,
    timezone: Tz,
    pub catchup: Catchup,
    /// The first instant a fire time may be at (the start of `start_date` in the time zone).
    start: Option<Timestamp>,
}

/// One fire time: when, as the time zone shows it, and the run's logical date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireTime {
    pub at: Timestamp,
    /// RFC 3339 with the zone's offset at that instant: `2024-03-31T03:00:00+02:00`.
    pub local: String,
    /// `YYYY-MM-DD`, the fire time's date in the time zone.
    pub logical_date: String,
}

impl Schedule {
    /// Every problem with `config`: a pattern croner refuses (or with a year field), an unknown
    /// time zone, a bad `start_date`, `max_active_runs` other than 1.
    pub fn new(config: &ScheduleConfig) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron =
            parser.parse(&config.cron).map_err(|e| problems.push(format!("schedule.cron `{}`: {e}", config.cron))).ok();
        let timezone = Tz::from_str(&config.timezone)
            .map_err(|_| {
                problems
                    .push(format!("schedule.timezone `{}`: not an IANA time zone (e.g. Europe/Paris)", config.timezone))
            })
            .ok();
        let start_date = match &config.start_date {
            Some(date) => match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
                Ok(date) => Some(date),
                Err(_) => {
                    problems.push(format!("schedule.start_date `{date}`: expected a real date as YYYY-MM-DD"));
                    None
                }
            },
            None => None,
        };
        if config.max_active_runs != 1 {
            problems.push(format!(
                "schedule.max_active_runs {}: only 1 is supported (runs of a pipeline never overlap)",
                config.max_active_runs
            ));
        }
        match (cron, timezone) {
            (Some(cron), Some(timezone)) if problems.is_empty() => {
                let start = start_date.map(|date| instant(timezone, date.and_hms_opt(0, 0, 0).unwrap_or_default()));
                Ok(Schedule { cron, pattern: config.cron.clone(), timezone, catchup: config.catchup, start })
            }
            _ => Err(problems),
        }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn timezone(&self) -> &str {
        self.timezone.name()
    }

    /// The fire times strictly after `after` (and not before `start_date`), in order.
    pub fn fire_times_after(&self, after: Timestamp) -> FireTimes<'_> {
        let after = after.max(self.start.map_or(after, |start| Timestamp::from_unix_millis(start.unix_millis() - 1)));
        // The wall clock at `after`, from which the pattern is walked as naive local time.
        let wall = utc_of(after).with_timezone(&self.timezone).naive_local();
        FireTimes { schedule: self, wall, after }
    }

    fn fire_time(&self, at: DateTime<Tz>) -> FireTime {
        FireTime {
            at: Timestamp::from_unix_millis(at.timestamp_millis()),
            local: at.to_rfc3339(),
            logical_date: at.date_naive().format("%Y-%m-%d").to_string(),
        }
    }
}

/// The fire times of a [`Schedule`] after an instant; see [`Schedule::fire_times_after`].
#[derive(Debug)]
pub struct FireTimes<'a> {
    schedule: &'a Schedule,
    /// The last wall-clock time looked at.
    wall: NaiveDateTime,
    /// Fire times must come after this instant.
    after: Timestamp,
}

impl Iterator for FireTimes<'_> {
    type Item = FireTime;

    fn next(&mut self) -> Option<FireTime> {
        // The pattern is matched on the wall clock (naive times, walked as if UTC); each match is
        // then placed in the zone by the module's daylight-saving rule.
        for _ in 0..100_000 {
            let wall = Utc.from_utc_datetime(&self.wall);
            let next = self.schedule.cron.find_next_occurrence(&wall, false).ok()?.naive_utc();
            self.wall = next;
            let at = match self.schedule.timezone.from_local_datetime(&next) {
                LocalResult::Single(at) => at,
                // Repeated: the first occurrence (the second has the same wall-clock time, which
                // the walk has passed).
                LocalResult::Ambiguous(first, _) => first,
                // Skipped: the moment of the change.
                LocalResult::None => after_gap(self.schedule.timezone, next)?,
            };
            let fire = self.schedule.fire_time(at);
            if fire.at > self.after {
                self.after = fire.at;
                return Some(fire);
            }
        }
        None
    }
}

/// The first instant after the gap that `wall` falls in: the moment the clocks changed.
fn after_gap(timezone: Tz, wall: NaiveDateTime) -> Option<DateTime<Tz>> {
    // Gaps are at most a few hours; walk a minute at a time to the first wall-clock time that
    // exists, then back to the exact second the gap ends.
    let mut probe = wall;
    for _ in 0..=24 * 60 {
        probe += ChronoDuration::minutes(1);
        if let Some(at) = timezone.from_local_datetime(&probe).earliest() {
            let mut exact = at;
            while let Some(earlier) =
                timezone.from_local_datetime(&(exact.naive_local() - ChronoDuration::seconds(1))).earliest()
            {
                if earlier.naive_local() < wall {
                    break;
                }
                exact = earlier;
            }
            return Some(exact);
        }
    }
    None
}

fn utc_of(at: Timestamp) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(at.unix_millis()).single().unwrap_or_default()
}

/// The instant of wall-clock time `wall` in `timezone` (its first occurrence, or the end of its
/// gap).
fn instant(timezone: Tz, wall: NaiveDateTime) -> Timestamp {
    let at = match timezone.from_local_datetime(&wall) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(at),
        LocalResult::None => after_gap(timezone, wall),
    };
    at.map_or_else(|| Timestamp::from_unix_millis(0), |at| Timestamp::from_unix_millis(at.timestamp_millis()))
}

/// The fire times to run now, after `last` (the last fire time handled, if any) and up to `now`,
/// by the schedule's `catchup`: none, the latest, or all (at most `limit`, the latest ones).
pub fn missed(schedule: &Schedule, last: Option<Timestamp>, now: Timestamp, limit: usize) -> Vec<FireTime> {
    let Some(last) = last.or(schedule.start.map(|s| Timestamp::from_unix_millis(s.unix_millis() - 1))) else {
        return Vec::new();
    };
    if schedule.catchup == Catchup::None {
        return Vec::new();
    }
    let mut missed: Vec<FireTime> = Vec::new();
    for fire in schedule.fire_times_after(last).take_while(|fire| fire.at <= now) {
        if missed.len() == limit.max(1) {
            missed.remove(0);
        }
        missed.push(fire);
    }
    if schedule.catchup == Catchup::Latest && missed.len() > 1 {
        missed.drain(..missed.len() - 1);
    }
    missed
}

#[cfg(test)]
mod tests;
