//! `host schedule` through the real binary: the fire times `--dry-run` prints across a
//! daylight-saving change, and a seconds-level schedule firing runs one at a time, a second
//! scheduler refused, SIGTERM ending it cleanly with every run recorded.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::common::{cache_dir, host, items_pipeline, scratch, show};

/// A small pipeline with `schedule` (a YAML flow mapping's inside) appended.
fn scheduled_pipeline(dir: &Path, schedule: &str) -> std::path::PathBuf {
    let stages = "  - name: copy\n    plugin: identity.wasm\n    inputs: {in: ingest_items}\n";
    let file = items_pipeline(dir, "scheduled", "id,n\na,1\nb,2\n", "retries: 0", stages);
    let text = std::fs::read_to_string(&file).unwrap() + &format!("schedule: {{{schedule}}}\n");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn dry_run_lists_fire_times_across_daylight_saving_changes() {
    let dir = scratch("schedule-dry-run");
    let file = scheduled_pipeline(&dir, "cron: '30 2 * * *', timezone: Europe/Paris");
    let file = file.to_str().unwrap();
    let spring =
        host(&["schedule", "--pipeline", file, "--dry-run", "--count", "3", "--from", "2024-03-29T12:00:00Z"], "warn");
    assert_eq!(spring.status.code(), Some(0), "{}", show(&spring));
    assert_eq!(
        String::from_utf8_lossy(&spring.stdout),
        "schedule `30 2 * * *` in Europe/Paris (catchup: none): the next 3 fire times after 2024-03-29T12:00:00.000Z\n\
         2024-03-30T02:30:00+01:00  logical date 2024-03-30\n\
         2024-03-31T03:00:00+02:00  logical date 2024-03-31\n\
         2024-04-01T02:30:00+02:00  logical date 2024-04-01\n"
    );
    let autumn =
        host(&["schedule", "--pipeline", file, "--dry-run", "--count", "2", "--from", "2024-10-26T12:00:00Z"], "warn");
    let autumn = String::from_utf8_lossy(&autumn.stdout).into_owned();
    assert!(
        autumn.ends_with(
            "2024-10-27T02:30:00+02:00  logical date 2024-10-27\n2024-10-28T02:30:00+01:00  logical date 2024-10-28\n"
        ),
        "{autumn}"
    );

    // A bad block is a configuration error naming every problem.
    let bad = scheduled_pipeline(&scratch("schedule-bad"), "cron: '0 25 * * *', timezone: Nowhere/City");
    let output = host(&["schedule", "--pipeline", bad.to_str().unwrap(), "--dry-run"], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("schedule.cron `0 25 * * *`: "), "{stderr}");
    assert!(stderr.contains("schedule.timezone `Nowhere/City`: not an IANA time zone"), "{stderr}");
}

/// Starts `host` with `args` (logging at `rust_log`) under a two-minute [`watchdog`]; returns it,
/// the watchdog's off switch and its stdout's lines.
fn start(args: &[&str], rust_log: &str) -> (Child, mpsc::Sender<()>, impl Iterator<Item = String> + use<>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(args)
        .env("ETL_CACHE_DIR", cache_dir())
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("host starts");
    let done = watchdog(&child, Duration::from_secs(120));
    let lines = BufReader::new(child.stdout.take().expect("piped")).lines().map(|line| line.expect("utf-8"));
    (child, done, lines)
}

/// Kills `child` if the test has not finished with it in `limit`: a hung scheduler fails the test
/// instead of hanging it.
fn watchdog(child: &Child, limit: Duration) -> mpsc::Sender<()> {
    let (done, wait) = mpsc::channel::<()>();
    let pid = child.id() as libc::pid_t;
    std::thread::spawn(move || {
        if wait.recv_timeout(limit).is_err() {
            // SAFETY: kill(2) on a pid this test started and has not reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    done
}

#[test]
fn a_seconds_schedule_fires_runs_one_at_a_time_until_sigterm() {
    let dir = scratch("schedule-runs");
    let file = scheduled_pipeline(&dir, "cron: '* * * * * *'");
    let file = file.to_str().unwrap().to_owned();
    let (mut scheduler, done, mut lines) = start(&["schedule", "--pipeline", &file], "warn");
    let mut seen = Vec::new();
    let mut started: Vec<(String, String)> = Vec::new();
    let mut finished = 0;
    while finished < 2 {
        let line = lines.next().unwrap_or_else(|| panic!("the scheduler stopped early: {seen:?}"));
        if let Some(rest) = line.strip_prefix("run for ") {
            // `run for <date> started (fire time <local>)`
            let (date, fire) = rest.split_once(" started (fire time ").expect("a start line");
            started.push((date.to_owned(), fire.trim_end_matches(')').to_owned()));
        }
        if line.starts_with("run ") && line.ends_with(": success") {
            finished += 1;
        }
        seen.push(line);
    }
    assert!(seen[0].starts_with("scheduling scheduled with `* * * * * *` in UTC"), "{seen:?}");
    for (date, fire) in &started {
        assert_eq!(&fire[..10], date, "the logical date is the fire time's date: {seen:?}");
    }

    // A second scheduler on the same state directory is refused, naming the first.
    let second = host(&["schedule", "--pipeline", &file], "warn");
    assert_eq!(second.status.code(), Some(3), "{}", show(&second));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("another scheduler (pid {}) already runs on this state directory", scheduler.id())),
        "{stderr}"
    );

    // SIGTERM: no new run; the one going (if any) finishes; then it says so and exits 0.
    // SAFETY: kill(2) on the scheduler this test started and has not reaped.
    unsafe { libc::kill(scheduler.id() as libc::pid_t, libc::SIGTERM) };
    let rest: Vec<String> = lines.collect();
    let status = scheduler.wait().unwrap();
    drop(done);
    assert_eq!(status.code(), Some(0), "{rest:?}");
    assert_eq!(rest.last().map(String::as_str), Some("stopped"), "{rest:?}");

    // Every run is recorded, scheduled, finished, and none overlapped another.
    let list = host(&["runs", "list", "--state-dir", dir.join("state").to_str().unwrap(), "--json"], "warn");
    let runs: Value = serde_json::from_slice(&list.stdout).expect("runs list --json");
    let mut runs: Vec<&Value> = runs.as_array().unwrap().iter().collect();
    runs.reverse();
    assert!(runs.len() >= 2, "{runs:?}");
    let mut previous_end = i64::MIN;
    for run in &runs {
        assert_eq!(run["trigger"], "schedule");
        assert_eq!(run["status"], "success", "{run}");
        let start = run["started_at"]["unix_ms"].as_i64().unwrap();
        let end = run["ended_at"]["unix_ms"].as_i64().expect("finished");
        assert!(start >= previous_end, "runs overlapped: {runs:?}");
        previous_end = end;
    }
    let dates: Vec<&str> = runs.iter().map(|run| run["logical_date"].as_str().unwrap()).collect();
    let printed: Vec<&str> = started.iter().map(|(date, _)| date.as_str()).collect();
    assert_eq!(&dates[..printed.len()], printed.as_slice());
}

#[test]
fn a_second_signal_cancels_the_running_run_and_records_it_failed() {
    let dir = scratch("schedule-cancel");
    // 40,000 one-row batches through a plugin: seconds of work, cancelled between batches.
    let csv: String = std::iter::once("id,n\n".to_owned()).chain((0..40_000).map(|i| format!("r{i},{i}\n"))).collect();
    let stages = "  - name: copy\n    plugin: identity.wasm\n    inputs: {in: ingest_items}\n";
    let file = items_pipeline(&dir, "cancelled", &csv, "retries: 3, batch_rows: 1", stages);
    let text = std::fs::read_to_string(&file).unwrap() + "schedule: {cron: '* * * * * *'}\n";
    std::fs::write(&file, text).unwrap();
    let args = ["--log-format", "json", "schedule", "--pipeline", file.to_str().unwrap(), "--no-stream"];
    let (mut scheduler, done, mut lines) = start(&args, "info");
    // The log says when the plugin stage starts (after the ingest stage it waits for).
    let (copy_started, wait_for_copy) = mpsc::channel();
    let stderr = BufReader::new(scheduler.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let record: Value = serde_json::from_str(&line).unwrap_or_default();
            if record["message"] == "stage started" && record["stage"] == "copy" {
                let _ = copy_started.send(());
            }
        }
    });
    wait_for_copy.recv().expect("the plugin stage starts");
    // Two signals sent at once may arrive as one: the second goes once the first is taken.
    let pid = scheduler.id() as libc::pid_t;
    // SAFETY: kill(2) on the scheduler this test started and has not reaped.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let before: Vec<String> = lines.by_ref().take_while(|line| !line.starts_with("stopping: ")).collect();
    assert!(before.iter().any(|line| line.starts_with("run for ")), "{before:?}");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(lines.next().as_deref(), Some("cancelling: the running run stops at its stages' next batch"));
    let rest: Vec<String> = lines.collect();
    let status = scheduler.wait().unwrap();
    drop(done);
    assert_eq!(status.code(), Some(0), "{rest:?}");
    assert!(rest.first().is_some_and(|line| line.starts_with("run ") && line.ends_with(": failed")), "{rest:?}");
    assert_eq!(rest.last().map(String::as_str), Some("stopped"));

    let state = dir.join("state");
    let list = host(&["runs", "list", "--state-dir", state.to_str().unwrap(), "--json"], "warn");
    let runs: Value = serde_json::from_slice(&list.stdout).expect("runs list --json");
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "failed");
    let run_id = runs[0]["id"].as_str().unwrap();
    let summary = crate::common::summary(&state, run_id);
    let cancelled: Vec<&Value> =
        summary["stages"].as_array().unwrap().iter().filter(|s| s["error_kind"] == "cancelled").collect();
    assert_eq!(cancelled.len(), 1, "{summary}");
    assert_eq!(cancelled[0]["error"], "cancelled: the run was stopped while this stage ran");
    assert_eq!(cancelled[0]["attempts"], 1, "a cancelled stage is not retried");
    // The lease is released: a later host does not take the run for abandoned, and it stays failed.
    assert!(!state.join("runs").join(run_id).join(".lease").exists() || !is_locked(&state, run_id));
}

/// Whether a process holds run `run_id`'s lease.
fn is_locked(state: &Path, run_id: &str) -> bool {
    let file = std::fs::File::open(state.join("runs").join(run_id).join(".lease")).unwrap();
    matches!(file.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock))
}
