use super::*;

fn schedule(cron: &str, timezone: &str, catchup: Catchup, start_date: Option<&str>) -> Schedule {
    Schedule::new(&ScheduleConfig {
        cron: cron.to_owned(),
        timezone: timezone.to_owned(),
        catchup,
        start_date: start_date.map(str::to_owned),
        max_active_runs: 1,
    })
    .unwrap()
}

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::from_unix_millis(DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis())
}

fn fires(schedule: &Schedule, from: &str, count: usize) -> Vec<(String, String)> {
    schedule.fire_times_after(at(from)).take(count).map(|fire| (fire.local, fire.logical_date)).collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(local, date)| ((*local).to_owned(), (*date).to_owned())).collect()
}

#[test]
fn a_skipped_wall_clock_time_fires_at_the_change_and_a_repeated_one_once() {
    // Paris: 2024-03-31 02:00 CET → 03:00 CEST; 2024-10-27 03:00 CEST → 02:00 CET.
    let daily = schedule("30 2 * * *", "Europe/Paris", Catchup::None, None);
    assert_eq!(
        fires(&daily, "2024-03-29T12:00:00Z", 4),
        pairs(&[
            ("2024-03-30T02:30:00+01:00", "2024-03-30"),
            ("2024-03-31T03:00:00+02:00", "2024-03-31"),
            ("2024-04-01T02:30:00+02:00", "2024-04-01"),
            ("2024-04-02T02:30:00+02:00", "2024-04-02"),
        ])
    );
    assert_eq!(
        fires(&daily, "2024-10-26T12:00:00Z", 2),
        pairs(&[("2024-10-27T02:30:00+02:00", "2024-10-27"), ("2024-10-28T02:30:00+01:00", "2024-10-28")])
    );
    // Every minute of the skipped hour: one fire, at the change.
    let gap = schedule("* 2 31 3 *", "Europe/Paris", Catchup::None, None);
    assert_eq!(fires(&gap, "2024-03-30T12:00:00Z", 2)[0], pairs(&[("2024-03-31T03:00:00+02:00", "2024-03-31")])[0]);
    assert_eq!(fires(&gap, "2024-03-30T12:00:00Z", 2)[1].0, "2025-03-31T02:00:00+02:00");
    // Hourly across the repeated hour: 02:00 once.
    let hourly = schedule("0 * * * *", "Europe/Paris", Catchup::None, None);
    assert_eq!(
        fires(&hourly, "2024-10-26T23:30:00Z", 3),
        pairs(&[
            ("2024-10-27T02:00:00+02:00", "2024-10-27"),
            ("2024-10-27T03:00:00+01:00", "2024-10-27"),
            ("2024-10-27T04:00:00+01:00", "2024-10-27"),
        ])
    );
}

#[test]
fn logical_dates_are_the_fire_times_dates_in_the_time_zone() {
    let tokyo = schedule("@daily", "Asia/Tokyo", Catchup::None, None);
    assert_eq!(
        fires(&tokyo, "2024-06-30T14:00:00Z", 1),
        pairs(&[("2024-07-01T00:00:00+09:00", "2024-07-01")]),
        "midnight in Tokyo is 15:00 UTC the day before"
    );
    let seconds = schedule("*/20 * * * * *", "UTC", Catchup::None, None);
    assert_eq!(
        fires(&seconds, "2024-12-31T23:59:30Z", 3),
        pairs(&[
            ("2024-12-31T23:59:40+00:00", "2024-12-31"),
            ("2025-01-01T00:00:00+00:00", "2025-01-01"),
            ("2025-01-01T00:00:20+00:00", "2025-01-01"),
        ])
    );
    // Day of week 0 and 7 are Sunday, 1 is Monday, as in cron.
    let monday = schedule("0 9 * * 1", "UTC", Catchup::None, None);
    assert_eq!(fires(&monday, "2024-06-01T00:00:00Z", 1)[0].0, "2024-06-03T09:00:00+00:00");
}

#[test]
fn start_date_bounds_the_fire_times() {
    let daily = schedule("0 6 * * *", "UTC", Catchup::None, Some("2030-01-02"));
    assert_eq!(fires(&daily, "2024-01-01T00:00:00Z", 1)[0].0, "2030-01-02T06:00:00+00:00");
}

#[test]
fn missed_fire_times_follow_catchup() {
    let now = at("2024-06-05T12:00:00Z");
    let last = Some(at("2024-06-02T06:00:00Z"));
    let dates = |catchup, last, start| {
        missed(&schedule("0 6 * * *", "UTC", catchup, start), last, now, 1000)
            .into_iter()
            .map(|fire| fire.logical_date)
            .collect::<Vec<_>>()
    };
    assert_eq!(dates(Catchup::All, last, None), ["2024-06-03", "2024-06-04", "2024-06-05"]);
    assert_eq!(dates(Catchup::Latest, last, None), ["2024-06-05"]);
    assert!(dates(Catchup::None, last, None).is_empty());
    // Never scheduled before: from start_date, else nothing.
    assert_eq!(dates(Catchup::All, None, Some("2024-06-04")), ["2024-06-04", "2024-06-05"]);
    assert!(dates(Catchup::All, None, None).is_empty());
    // At most `limit`, the latest.
    let few = missed(&schedule("0 6 * * *", "UTC", Catchup::All, Some("2024-01-01")), None, now, 2);
    assert_eq!(few.iter().map(|f| f.logical_date.as_str()).collect::<Vec<_>>(), ["2024-06-04", "2024-06-05"]);
}

#[test]
fn a_bad_block_lists_every_problem() {
    let problems = Schedule::new(&ScheduleConfig {
        cron: "61 * * * *".to_owned(),
        timezone: "Mars/Olympus".to_owned(),
        catchup: Catchup::None,
        start_date: Some("2024-02-30".to_owned()),
        max_active_runs: 2,
    })
    .unwrap_err();
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].starts_with("schedule.cron `61 * * * *`: "), "{problems:?}");
    assert_eq!(problems[1], "schedule.timezone `Mars/Olympus`: not an IANA time zone (e.g. Europe/Paris)");
    assert_eq!(problems[2], "schedule.start_date `2024-02-30`: expected a real date as YYYY-MM-DD");
    assert_eq!(problems[3], "schedule.max_active_runs 2: only 1 is supported (runs of a pipeline never overlap)");
    // A year field is not cron.
    assert!(Schedule::new(&ScheduleConfig { cron: "0 0 0 1 1 * 2030".into(), ..sample() }).is_err());
}

fn sample() -> ScheduleConfig {
    ScheduleConfig {
        cron: "@daily".into(),
        timezone: "UTC".into(),
        catchup: Catchup::None,
        start_date: None,
        max_active_runs: 1,
    }
}
