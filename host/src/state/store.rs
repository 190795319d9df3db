//! [`RunStore`]: the SQLite database of runs, stages and metrics, and the per-run summary file.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::BuildHasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Row, TransactionBehavior, params};

use super::model::{
    AlertRecord, CheckRecord, NewRun, Pruned, RunAge, RunDetail, RunStats, RunStatus, RunSummary, StageCounts,
    StageRecord, StageRun, StageStats, Trigger,
};
use super::{StateError, sql, time, time::Timestamp};

/// The database's file name inside the state directory.
pub const DB_FILE: &str = "runs.sqlite";

/// How long a statement waits for another connection's lock before giving up. Writers hold
/// locks for one small transaction at a time, so this is only reached when something is wrong.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The run store of one state directory: `runs.sqlite` (WAL journal, so `host runs list` reads
/// while a run writes) and `runs/<run_id>/summary.json`.
///
/// One connection; it is `Send` but not `Sync`, so share it behind a `Mutex`. Every write is one
/// short `BEGIN IMMEDIATE` transaction.
///
/// ```no_run
/// # fn main() -> Result<(), host::state::StateError> {
/// use host::state::{NewRun, RunStatus, RunStore, StageRecord, StageStatus, Timestamp, Trigger};
///
/// let dir = std::path::Path::new("state");
/// let store = RunStore::open(dir)?;
/// let now = Timestamp::now();
/// let id = RunStore::new_run_id(now);
/// store.start_run(&NewRun {
///     id: id.clone(),
///     pipeline: "ecommerce".into(),
///     env: "development".into(),
///     logical_date: "2026-11-25".into(),
///     started_at: now,
///     resumed_from: None,
///     config_digest: "sha256:…".into(),
///     trigger: Trigger::Manual,
/// })?;
/// store.upsert_stage(&id, &StageRecord { status: StageStatus::Success, ..StageRecord::pending("ingest") })?;
/// store.finish_run(&id, RunStatus::Success, Timestamp::now())?;
/// store.write_summary(dir, &id)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RunStore {
    conn: Connection,
    path: PathBuf,
    /// The schema version of the database as opened: this host's, or for a read-only store
    /// possibly an older one it still reads.
    version: i64,
}

impl RunStore {
    /// Opens the store of `state_dir` for reading and writing, creating the directory and the
    /// database as needed and migrating its schema to this host's version.
    pub fn open(state_dir: &Path) -> Result<Self, StateError> {
        fs::create_dir_all(state_dir)
            .map_err(|source| StateError::CreateDir { path: state_dir.to_path_buf(), source })?;
        let path = state_dir.join(DB_FILE);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(|e| open_error(&path, e))?;
        let setup = |conn: &Connection| -> rusqlite::Result<String> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "foreign_keys", true)?;
            // WAL makes `synchronous = NORMAL` durable against application crashes; a power
            // loss can lose the last transactions, never corrupt the database.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
        };
        let mode = setup(&conn).map_err(|e| open_error(&path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::NoWal { path, mode });
        }
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        let store = RunStore { conn, path, version: sql::SCHEMA_VERSION };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the store of `state_dir` for reading only (`host runs list/show/stats`). It never
    /// creates or migrates anything: a missing database is [`StateError::Missing`], naming the
    /// path. A store written by an older host (schema version 1 on) reads as it is; what later
    /// versions record (a run's checks) reads as empty.
    pub fn open_read_only(state_dir: &Path) -> Result<Self, StateError> {
        let path = state_dir.join(DB_FILE);
        if matches!(fs::metadata(&path), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            return Err(StateError::Missing { path });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| open_error(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| open_error(&path, e))?;
        let mut store = RunStore { conn, path, version: sql::SCHEMA_VERSION };
        let found = store.user_version().map_err(|e| open_error(&store.path, e))?;
        if found < sql::OLDEST_READABLE_VERSION {
            Err(StateError::SchemaTooOld { path: store.path, found, supported: sql::SCHEMA_VERSION })
        } else if found > sql::SCHEMA_VERSION {
            Err(StateError::SchemaTooNew { path: store.path, found, supported: sql::SCHEMA_VERSION })
        } else {
            store.version = found;
            Ok(store)
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new run id: the UTC second of `now`, then 4 hex digits, as in `20261125T190700Z-3f9a`.
    ///
    /// Ids sort in the order this process made them, even within one second or with a clock
    /// that steps back: each id is greater than the one before (the digits count up from a
    /// random start each second; on overflow the id moves to the next second). Across
    /// processes, the random start makes a clash in the same second a 1-in-32768 event, and
    /// [`start_run`](Self::start_run) refuses a duplicate rather than overwrite.
    pub fn new_run_id(now: Timestamp) -> String {
        static LAST: Mutex<Option<(i64, u16)>> = Mutex::new(None);
        let second = now.unix_millis().div_euclid(1000);
        let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
        let (second, seq) = match *last {
            Some((last_second, last_seq)) if second <= last_second => match last_seq.checked_add(1) {
                Some(seq) => (last_second, seq),
                None => (last_second.saturating_add(1), random_start()),
            },
            _ => (second, random_start()),
        };
        *last = Some((second, seq));
        format!("{}-{seq:04x}", Timestamp::from_unix_millis(second.saturating_mul(1000)).compact())
    }

    /// Records a run as `running`.
    pub fn start_run(&self, run: &NewRun) -> Result<(), StateError> {
        if !is_run_id(&run.id) {
            return Err(StateError::InvalidRunId { run_id: run.id.clone() });
        }
        if !time::is_logical_date(&run.logical_date) {
            return Err(StateError::InvalidLogicalDate { run_id: run.id.clone(), date: run.logical_date.clone() });
        }
        let inserted = self.conn.execute(
            sql::INSERT_RUN,
            params![
                run.id,
                run.pipeline,
                run.env,
                run.logical_date,
                run.started_at,
                run.resumed_from,
                run.config_digest,
                run.trigger
            ],
        );
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if constraint(&e, rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                Err(StateError::RunExists { path: self.path.clone(), run_id: run.id.clone() })
            }
            Err(e) if constraint(&e, rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                Err(StateError::ResumedFromNotFound {
                    path: self.path.clone(),
                    run_id: run.id.clone(),
                    resumed_from: run.resumed_from.clone().unwrap_or_default(),
                })
            }
            Err(e) => Err(self.sql_error(format!("start run {}", run.id), e)),
        }
    }

    /// Records `run` as `running`, replacing whatever the store had of a run with its id (its
    /// stages, checks and alerts): a run executed as tasks is recorded whole by its finishing
    /// task, and again if that task runs again.
    pub fn replace_run(&self, run: &NewRun) -> Result<(), StateError> {
        self.conn
            .execute(sql::DELETE_RUN, params![run.id])
            .map_err(|e| self.sql_error(format!("replace run {}", run.id), e))?;
        self.start_run(run)
    }

    /// Records `stage` for run `run_id`, replacing the stage's previous record and metrics.
    pub fn upsert_stage(&self, run_id: &str, stage: &StageRecord) -> Result<(), StateError> {
        let write = || -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            tx.execute(
                sql::UPSERT_STAGE,
                params![
                    run_id,
                    stage.stage,
                    stage.status,
                    stage.attempts,
                    stage.started_at,
                    stage.ended_at,
                    to_sql_int(stage.rows_in)?,
                    to_sql_int(stage.rows_out)?,
                    to_sql_int(stage.rows_rejected)?,
                    to_sql_int(stage.bytes_in)?,
                    to_sql_int(stage.bytes_out)?,
                    stage.error,
                    stage.plugin_sha256,
                    stage.error_kind,
                    stage.input_wait_ms.map(to_sql_int).transpose()?,
                    stage.plugin_path,
                    stage.plugin_name,
                    stage.plugin_version
                ],
            )?;
            tx.execute(sql::DELETE_STAGE_METRICS, params![run_id, stage.stage])?;
            let mut insert = tx.prepare(sql::INSERT_STAGE_METRIC)?;
            for (seq, (name, value)) in stage.metrics.iter().enumerate() {
                insert.execute(params![run_id, stage.stage, to_sql_int(seq)?, name, value])?;
            }
            drop(insert);
            tx.commit()
        };
        write().map_err(|e| self.run_write_error(run_id, || format!("record stage {} of run {run_id}", stage.stage), e))
    }

    /// Records the checks evaluated after run `run_id`, in order, replacing any recorded before.
    pub fn record_checks(&self, run_id: &str, checks: &[CheckRecord]) -> Result<(), StateError> {
        let write = || -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            tx.execute(sql::DELETE_RUN_CHECKS, [run_id])?;
            let mut insert = tx.prepare(sql::INSERT_RUN_CHECK)?;
            for (seq, check) in checks.iter().enumerate() {
                insert.execute(params![
                    run_id,
                    to_sql_int(seq)?,
                    check.name,
                    check.passed,
                    check.detail,
                    check.figures
                ])?;
            }
            drop(insert);
            tx.commit()
        };
        write().map_err(|e| self.run_write_error(run_id, || format!("record the checks of run {run_id}"), e))
    }

    /// Records one alert delivery attempt of run `run_id`, after those recorded before.
    pub fn record_alert(&self, run_id: &str, alert: &AlertRecord) -> Result<(), StateError> {
        self.conn
            .execute(
                sql::INSERT_RUN_ALERT,
                params![run_id, alert.alert, alert.event, alert.delivered, alert.detail, alert.at],
            )
            .map(drop)
            .map_err(|e| self.run_write_error(run_id, || format!("record an alert of run {run_id}"), e))
    }

    /// Every run of the store, newest first within each pipeline (pipelines in name order).
    pub fn runs_for_retention(&self) -> Result<Vec<RunAge>, StateError> {
        let query =
            if self.version >= sql::OPERATIONS_VERSION { sql::RETENTION_RUNS[0] } else { sql::RETENTION_RUNS[1] };
        let read = || -> rusqlite::Result<Vec<RunAge>> {
            let mut stmt = self.conn.prepare(query)?;
            let rows = stmt.query_map([], |row| {
                Ok(RunAge {
                    id: row.get(0)?,
                    pipeline: row.get(1)?,
                    status: row.get(2)?,
                    started_at: row.get(3)?,
                    pruned: row.get(4)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| self.sql_error("list runs for retention".into(), e))
    }

    /// Records that run `run_id`'s artifacts were pruned at `at`, freeing `bytes`; a run already
    /// marked keeps its first record.
    pub fn mark_pruned(&self, run_id: &str, at: Timestamp, bytes: u64) -> Result<(), StateError> {
        self.conn
            .execute(sql::MARK_PRUNED, params![run_id, at, to_sql_int(bytes).unwrap_or(i64::MAX)])
            .map(drop)
            .map_err(|e| self.sql_error(format!("mark run {run_id} pruned"), e))
    }

    /// Ends run `run_id` with `status` (anything but `running`) at `ended_at`.
    pub fn finish_run(&self, run_id: &str, status: RunStatus, ended_at: Timestamp) -> Result<(), StateError> {
        if !status.is_finished() {
            return Err(StateError::NotFinal { run_id: run_id.to_owned(), status });
        }
        let updated = self
            .conn
            .execute(sql::FINISH_RUN, params![run_id, status, ended_at])
            .map_err(|e| self.sql_error(format!("finish run {run_id}"), e))?;
        if updated == 0 {
            return Err(StateError::RunNotFound { path: self.path.clone(), run_id: run_id.to_owned() });
        }
        Ok(())
    }

    /// Marks every `running` run of this store (in `state_dir`) that no live process holds
    /// (see [`super::lease`]) as `failed`, with its unfinished stages, and returns their ids.
    pub fn reap_abandoned(&self, state_dir: &Path, now: Timestamp) -> Result<Vec<String>, StateError> {
        let running: Vec<String> = (|| {
            let mut stmt = self.conn.prepare(sql::RUNNING_RUNS)?;
            let ids = stmt.query_map([], |row| row.get(0))?;
            ids.collect::<rusqlite::Result<Vec<String>>>()
        })()
        .map_err(|e| self.sql_error("list running runs".into(), e))?;
        let mut reaped = Vec::new();
        for run_id in running.into_iter().filter(|id| !super::lease::is_live(state_dir, id)) {
            let write = || -> rusqlite::Result<()> {
                let tx = self.conn.unchecked_transaction()?;
                tx.execute(sql::ABANDON_STAGES, params![run_id, now, super::lease::ABANDONED, "abandoned"])?;
                tx.execute(sql::FINISH_RUN, params![run_id, RunStatus::Failed, now])?;
                tx.commit()
            };
            write().map_err(|e| self.sql_error(format!("mark abandoned run {run_id} failed"), e))?;
            reaped.push(run_id);
        }
        Ok(reaped)
    }

    /// When the most recent run of `pipeline` started by `trigger` started, if there is one (a
    /// scheduler catches up on the fire times after it).
    pub fn last_started(&self, pipeline: &str, trigger: Trigger) -> Result<Option<Timestamp>, StateError> {
        if self.version < sql::TRIGGER_VERSION {
            return Ok(None);
        }
        self.conn
            .query_row(sql::LAST_STARTED, params![pipeline, trigger], |row| row.get(0))
            .map_err(|e| self.sql_error(format!("read the last {} run of {pipeline}", trigger.as_str()), e))
    }

    /// The `limit` most recent runs, newest first.
    pub fn list_runs(&self, limit: usize) -> Result<Vec<RunSummary>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_summaries(self.pick(sql::LIST_RUNS), limit).map_err(|e| self.sql_error("list runs".into(), e))
    }

    /// Run `run_id` and its stages, or `None` when there is no such run.
    pub fn get_run(&self, run_id: &str) -> Result<Option<RunDetail>, StateError> {
        self.detail(self.pick(sql::GET_RUN), run_id).map_err(|e| self.sql_error(format!("read run {run_id}"), e))
    }

    /// The most recently started run of `pipeline` (whatever its status), or `None`.
    pub fn latest_run(&self, pipeline: &str) -> Result<Option<RunDetail>, StateError> {
        self.detail(self.pick(sql::LATEST_RUN), pipeline)
            .map_err(|e| self.sql_error(format!("read the latest run of {pipeline}"), e))
    }

    /// Aggregates over the `last` most recently started runs that have finished (runs still
    /// `running` are left out).
    ///
    /// The p95 duration uses the nearest-rank method: with the n durations sorted ascending, it
    /// is the one at 1-based rank ⌈0.95·n⌉ — the largest when n < 20, the 19th of 20, the 95th
    /// of 100. It is always an observed duration, never an interpolation.
    pub fn stats(&self, last: usize) -> Result<RunStats, StateError> {
        self.stats_over(last, None, i64::MIN)
    }

    /// [`stats`](Self::stats) over the finished runs started in the `days` days (of 24 hours)
    /// before `now` (the lab's `get_success_rate(days)`). `window` is the number of such runs.
    pub fn stats_for_days(&self, days: u32, now: Timestamp) -> Result<RunStats, StateError> {
        let since = now.unix_millis().saturating_sub(i64::from(days).saturating_mul(86_400_000));
        self.stats_over(usize::MAX, Some(days), since)
    }

    fn stats_over(&self, last: usize, days: Option<u32>, since_ms: i64) -> Result<RunStats, StateError> {
        let limit = i64::try_from(last).unwrap_or(i64::MAX);
        let runs = || -> rusqlite::Result<Vec<(RunStatus, Timestamp, Option<Timestamp>)>> {
            let mut stmt = self.conn.prepare(sql::RECENT_FINISHED_RUNS)?;
            let rows = stmt.query_map([limit, since_ms], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            rows.collect()
        };
        let runs = runs().map_err(|e| self.sql_error("read recent runs".into(), e))?;
        let stages = self.stage_stats(limit, since_ms).map_err(|e| self.sql_error("aggregate stages".into(), e))?;
        let last = if days.is_some() { runs.len() } else { last };

        let count = |status: RunStatus| runs.iter().filter(|(s, ..)| *s == status).count() as u64;
        let mut durations: Vec<f64> =
            runs.iter().filter_map(|&(_, start, end)| Some(start.seconds_until(end?))).collect();
        durations.sort_by(f64::total_cmp);
        let total = runs.len() as u64;
        let success = count(RunStatus::Success);
        Ok(RunStats {
            window: last,
            days,
            runs: total,
            success,
            partial: count(RunStatus::Partial),
            failed: count(RunStatus::Failed),
            success_rate: (total > 0).then(|| success as f64 / total as f64),
            avg_duration_seconds: mean(&durations),
            p95_duration_seconds: nearest_rank(&durations, 95),
            stages,
        })
    }

    /// Writes run `run_id`'s [`RunDetail`] as pretty JSON to `<state_dir>/runs/<run_id>/summary.json`
    /// (through a temporary file and a rename, so a reader never sees half a file) and returns
    /// the path.
    pub fn write_summary(&self, state_dir: &Path, run_id: &str) -> Result<PathBuf, StateError> {
        let Some(detail) = self.get_run(run_id)? else {
            return Err(StateError::RunNotFound { path: self.path.clone(), run_id: run_id.to_owned() });
        };
        let mut json = serde_json::to_vec_pretty(&detail)
            .map_err(|source| StateError::EncodeSummary { run_id: run_id.to_owned(), source })?;
        json.push(b'\n');

        // The id is one safe path component: `start_run` accepted only such ids.
        let dir = state_dir.join("runs").join(&detail.run.id);
        let path = dir.join("summary.json");
        let temp = dir.join(format!(".summary.json.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            fs::create_dir_all(&dir)?;
            let mut file = fs::File::create(&temp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            fs::rename(&temp, &path)
        };
        write().map_err(|source| {
            let _ = fs::remove_file(&temp);
            StateError::WriteSummary { path: path.clone(), source }
        })?;
        Ok(path)
    }

    fn migrate(&self) -> Result<(), StateError> {
        let migrate = || -> rusqlite::Result<Option<i64>> {
            if self.user_version()? == sql::SCHEMA_VERSION {
                return Ok(None);
            }
            // Another process may be migrating too: decide again under the write lock.
            let tx = self.conn.unchecked_transaction()?;
            let found = self.user_version()?;
            if found > sql::SCHEMA_VERSION {
                return Ok(Some(found));
            }
            for step in sql::MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
                tx.execute_batch(step)?;
            }
            tx.pragma_update(None, "user_version", sql::SCHEMA_VERSION)?;
            tx.commit()?;
            Ok(None)
        };
        match migrate().map_err(|e| self.sql_error("migrate the schema".into(), e))? {
            None => Ok(()),
            Some(found) => {
                Err(StateError::SchemaTooNew { path: self.path.clone(), found, supported: sql::SCHEMA_VERSION })
            }
        }
    }

    fn user_version(&self) -> rusqlite::Result<i64> {
        self.conn.query_row(sql::USER_VERSION, [], |row| row.get(0))
    }

    /// Of a query and its twin for stores older than [`sql::TRIGGER_VERSION`], the one for this
    /// store.
    fn pick(&self, [current, older]: [&'static str; 2]) -> &'static str {
        if self.version >= sql::TRIGGER_VERSION { current } else { older }
    }

    fn query_summaries(&self, sql: &str, param: impl rusqlite::ToSql) -> rusqlite::Result<Vec<RunSummary>> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([param], run_summary)?;
        rows.collect()
    }

    fn detail(&self, sql: &str, key: &str) -> rusqlite::Result<Option<RunDetail>> {
        let Some(run) = self.query_summaries(sql, key)?.into_iter().next() else {
            return Ok(None);
        };
        let mut metrics: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        let mut stmt = self.conn.prepare(sql::RUN_METRICS)?;
        let mut rows = stmt.query([&run.id])?;
        while let Some(row) = rows.next()? {
            metrics.entry(row.get(0)?).or_default().push((row.get(1)?, row.get(2)?));
        }
        let query = sql::RUN_STAGES.iter().find(|(since, _)| self.version >= *since).map_or("", |(_, query)| query);
        let mut stmt = self.conn.prepare(query)?;
        let stages = stmt.query_map([&run.id], |row| {
            let stage: String = row.get(0)?;
            let record = StageRecord {
                metrics: metrics.remove(&stage).unwrap_or_default(),
                status: row.get(1)?,
                attempts: row.get(2)?,
                started_at: row.get(3)?,
                ended_at: row.get(4)?,
                rows_in: get_u64(row, 5)?,
                rows_out: get_u64(row, 6)?,
                rows_rejected: get_u64(row, 7)?,
                bytes_in: get_u64(row, 8)?,
                bytes_out: get_u64(row, 9)?,
                error: row.get(10)?,
                plugin_sha256: row.get(11)?,
                error_kind: row.get(12)?,
                input_wait_ms: row.get::<_, Option<i64>>(13)?.map(|ms| ms.max(0) as u64),
                plugin_path: row.get(14)?,
                plugin_name: row.get(15)?,
                plugin_version: row.get(16)?,
                stage,
            };
            Ok(StageRun { duration_seconds: record.duration_seconds(), busy_seconds: record.busy_seconds(), record })
        })?;
        let stages = stages.collect::<rusqlite::Result<_>>()?;
        let checks = if self.version >= sql::CHECKS_VERSION {
            let mut stmt = self.conn.prepare(sql::RUN_CHECKS)?;
            let checks = stmt.query_map([&run.id], |row| {
                Ok(CheckRecord { name: row.get(0)?, passed: row.get(1)?, detail: row.get(2)?, figures: row.get(3)? })
            })?;
            checks.collect::<rusqlite::Result<_>>()?
        } else {
            Vec::new()
        };
        let (alerts, pruned) = if self.version >= sql::OPERATIONS_VERSION {
            let mut stmt = self.conn.prepare(sql::RUN_ALERTS)?;
            let alerts = stmt.query_map([&run.id], |row| {
                Ok(AlertRecord {
                    alert: row.get(0)?,
                    event: row.get(1)?,
                    delivered: row.get(2)?,
                    detail: row.get(3)?,
                    at: row.get(4)?,
                })
            })?;
            let alerts = alerts.collect::<rusqlite::Result<_>>()?;
            let pruned = self.conn.query_row(sql::RUN_PRUNED, [&run.id], |row| {
                let at: Option<Timestamp> = row.get(0)?;
                let bytes: Option<i64> = row.get(1)?;
                Ok(at.map(|at| Pruned { at, bytes: bytes.and_then(|b| u64::try_from(b).ok()).unwrap_or(0) }))
            })?;
            (alerts, pruned)
        } else {
            (Vec::new(), None)
        };
        Ok(Some(RunDetail { run, stages, checks, alerts, pruned }))
    }

    fn stage_stats(&self, limit: i64, since_ms: i64) -> rusqlite::Result<Vec<StageStats>> {
        let mut stmt = self.conn.prepare(sql::STAGE_STATS)?;
        let rows = stmt.query_map([limit, since_ms], |row| {
            Ok(StageStats {
                pipeline: row.get(0)?,
                stage: row.get(1)?,
                runs: get_u64(row, 2)?,
                failures: get_u64(row, 3)?,
                avg_duration_seconds: row.get::<_, Option<f64>>(4)?.map(|ms| ms.max(0.0) / 1000.0),
                avg_rows_out: row.get(5)?,
            })
        })?;
        rows.collect()
    }

    fn sql_error(&self, op: String, source: rusqlite::Error) -> StateError {
        StateError::Sql { path: self.path.clone(), op, source }
    }

    /// A failed write of something that belongs to run `run_id`: `RunNotFound` if the run isn't
    /// there, else the SQL error of `op`.
    fn run_write_error(&self, run_id: &str, op: impl FnOnce() -> String, source: rusqlite::Error) -> StateError {
        if constraint(&source, rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
            StateError::RunNotFound { path: self.path.clone(), run_id: run_id.to_owned() }
        } else {
            self.sql_error(op(), source)
        }
    }

    /// The raw connection, for tests that hold locks or inspect pragmas.
    #[cfg(test)]
    pub(super) fn conn_for_tests(&self) -> &Connection {
        &self.conn
    }
}

fn open_error(path: &Path, source: rusqlite::Error) -> StateError {
    StateError::Open { path: path.to_path_buf(), source }
}

/// Maps a row of [`sql::LIST_RUNS`] (and its siblings).
fn run_summary(row: &Row<'_>) -> rusqlite::Result<RunSummary> {
    let started_at: Timestamp = row.get(5)?;
    let ended_at: Option<Timestamp> = row.get(6)?;
    Ok(RunSummary {
        id: row.get(0)?,
        pipeline: row.get(1)?,
        env: row.get(2)?,
        logical_date: row.get(3)?,
        status: row.get(4)?,
        started_at,
        ended_at,
        duration_seconds: ended_at.map(|end| started_at.seconds_until(end)),
        resumed_from: row.get(7)?,
        config_digest: row.get(8)?,
        trigger: row.get(16)?,
        stage_counts: StageCounts {
            total: get_u64(row, 9)?,
            pending: get_u64(row, 10)?,
            running: get_u64(row, 11)?,
            success: get_u64(row, 12)?,
            failed: get_u64(row, 13)?,
            skipped: get_u64(row, 14)?,
            upstream_failed: get_u64(row, 15)?,
        },
    })
}

/// A count as SQLite's signed integer; beyond `i64::MAX` is an error, never a wrapped value.
fn to_sql_int<T: TryInto<i64, Error = std::num::TryFromIntError>>(value: T) -> rusqlite::Result<i64> {
    value.try_into().map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// A non-negative integer column (the schema's checks keep counts so).
fn get_u64(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(idx)?;
    u64::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, value))
}

/// Whether `error` is the constraint violation with SQLite extended code `code`.
fn constraint(error: &rusqlite::Error, code: std::ffi::c_int) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.code == ErrorCode::ConstraintViolation && e.extended_code == code)
}

/// Whether `id` is a run id: 1 to 128 ASCII letters, digits, `.`, `_` or `-`, starting with a
/// letter or digit (a directory name under `runs/`, and a Hive partition value).
pub fn is_run_id(id: &str) -> bool {
    crate::untrusted::check_name(crate::untrusted::NameKind::RunId, id).is_ok()
}

/// A random start for a second's run-id counter, in the lower half of `u16` so that at least
/// 32768 ids fit in that second. Std's `RandomState` is seeded from the OS's randomness.
fn random_start() -> u16 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (RandomState::new().hash_one((nanos, std::process::id())) & 0x7fff) as u16
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The `percent`-th percentile of `sorted` (ascending) by the nearest-rank method: the value at
/// 1-based rank ⌈percent·n/100⌉. `None` for no values.
pub(super) fn nearest_rank(sorted: &[f64], percent: usize) -> Option<f64> {
    let rank = percent.saturating_mul(sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}
