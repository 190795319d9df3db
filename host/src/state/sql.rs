//! Every SQL statement the run store executes, in one place: the schema migrations and the
//! parameterised queries. Nothing outside this file builds SQL text.
//!
//! Timestamps are unix milliseconds (`*_ms INTEGER`); statuses are their lowercase names. Row
//! counts are non-negative `INTEGER`s (SQLite's signed 64 bits).

/// Schema migrations: entry `i` takes a database from `user_version` `i` to `i + 1`. Append new
/// steps; never edit a released one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 0 → 1: runs, their stages, and each stage's plugin metrics.
    "CREATE TABLE runs (
        id            TEXT PRIMARY KEY NOT NULL,
        pipeline      TEXT NOT NULL,
        env           TEXT NOT NULL,
        logical_date  TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('running', 'success', 'partial', 'failed')),
        started_at_ms INTEGER NOT NULL,
        ended_at_ms   INTEGER,
        resumed_from  TEXT REFERENCES runs (id) ON DELETE SET NULL,
        config_digest TEXT NOT NULL,
        CHECK ((status = 'running') = (ended_at_ms IS NULL))
    ) STRICT;
    CREATE INDEX runs_by_pipeline ON runs (pipeline, started_at_ms);
    CREATE INDEX runs_by_start ON runs (started_at_ms);

    CREATE TABLE stage_runs (
        run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        stage         TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN
                          ('pending', 'running', 'success', 'failed', 'skipped', 'upstream_failed')),
        attempts      INTEGER NOT NULL CHECK (attempts >= 0),
        started_at_ms INTEGER,
        ended_at_ms   INTEGER,
        rows_in       INTEGER NOT NULL CHECK (rows_in >= 0),
        rows_out      INTEGER NOT NULL CHECK (rows_out >= 0),
        rows_rejected INTEGER NOT NULL CHECK (rows_rejected >= 0),
        bytes_in      INTEGER NOT NULL CHECK (bytes_in >= 0),
        bytes_out     INTEGER NOT NULL CHECK (bytes_out >= 0),
        error         TEXT,
        plugin_sha256 TEXT,
        PRIMARY KEY (run_id, stage)
    ) STRICT;

    CREATE TABLE stage_metrics (
        run_id TEXT NOT NULL,
        stage  TEXT NOT NULL,
        seq    INTEGER NOT NULL,
        name   TEXT NOT NULL,
        value  INTEGER NOT NULL,
        PRIMARY KEY (run_id, stage, seq),
        FOREIGN KEY (run_id, stage) REFERENCES stage_runs (run_id, stage) ON DELETE CASCADE
    ) STRICT;",
    // 1 → 2: the pipeline's checks evaluated after each run, in order, with their figures (a
    // JSON array of `[name, value]` pairs).
    "CREATE TABLE run_checks (
        run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq     INTEGER NOT NULL CHECK (seq >= 0),
        name    TEXT NOT NULL,
        passed  INTEGER NOT NULL CHECK (passed IN (0, 1)),
        detail  TEXT NOT NULL,
        figures TEXT NOT NULL CHECK (json_valid(figures)),
        PRIMARY KEY (run_id, seq)
    ) STRICT;",
    // 2 → 3: why a stage failed, as a short fixed label (`memory`, `timeout`, `trap`,
    // `upstream_failed`, ...) beside its message.
    "ALTER TABLE stage_runs ADD COLUMN error_kind TEXT;",
    // 3 → 4: what started a run: `manual` (host run) or `schedule` (host schedule).
    "ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'manual';",
    // 4 → 5: every alert delivery attempt of a run (`alert` is its target as text: the URL or
    // the command line; `event` is failure, partial, success or retry), and when retention
    // deleted a run's artifacts and how many bytes that freed.
    "CREATE TABLE run_alerts (
        run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq       INTEGER NOT NULL CHECK (seq >= 0),
        alert     TEXT NOT NULL,
        event     TEXT NOT NULL CHECK (event IN ('failure', 'partial', 'success', 'retry')),
        delivered INTEGER NOT NULL CHECK (delivered IN (0, 1)),
        detail    TEXT NOT NULL,
        at_ms     INTEGER NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) STRICT;
    ALTER TABLE runs ADD COLUMN pruned_at_ms INTEGER;
    ALTER TABLE runs ADD COLUMN pruned_bytes INTEGER CHECK (pruned_bytes >= 0);",
    // 5 → 6: how long a stage waited for running upstreams to write its inputs (its busy time is
    // its duration less that).
    "ALTER TABLE stage_runs ADD COLUMN input_wait_ms INTEGER CHECK (input_wait_ms >= 0);",
    // 6 → 7: which plugin a plugin stage ran, beside its digest: the `.wasm` path as the
    // pipeline resolved it, and the name and version the plugin declares.
    "ALTER TABLE stage_runs ADD COLUMN plugin_path TEXT;
    ALTER TABLE stage_runs ADD COLUMN plugin_name TEXT;
    ALTER TABLE stage_runs ADD COLUMN plugin_version TEXT;",
];

/// The schema version this host reads and writes.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The oldest schema a read-only store still reads (what later versions added reads as empty:
/// runs recorded before version 2 have no checks).
pub(super) const OLDEST_READABLE_VERSION: i64 = 1;

/// The first schema version with the `run_checks` table.
pub(super) const CHECKS_VERSION: i64 = 2;

/// The first schema version with `stage_runs.error_kind`.
pub(super) const ERROR_KIND_VERSION: i64 = 3;

/// The first schema version with `runs.trigger`.
pub(super) const TRIGGER_VERSION: i64 = 4;

/// The first schema version with `run_alerts` and `runs.pruned_at_ms`/`pruned_bytes`.
pub(super) const OPERATIONS_VERSION: i64 = 5;

/// The first schema version with `stage_runs.input_wait_ms`.
pub(super) const INPUT_WAIT_VERSION: i64 = 6;

/// The first schema version with `stage_runs.plugin_path`, `plugin_name` and `plugin_version`.
pub(super) const PLUGIN_VERSION: i64 = 7;

pub(super) const USER_VERSION: &str = "SELECT user_version FROM pragma_user_version";

pub(super) const INSERT_RUN: &str = "INSERT INTO runs
        (id, pipeline, env, logical_date, status, started_at_ms, resumed_from, config_digest, trigger)
    VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8)";

/// Deletes run ?1 with everything recorded of it (stages, metrics, checks, alerts cascade).
pub(super) const DELETE_RUN: &str = "DELETE FROM runs WHERE id = ?1";

pub(super) const FINISH_RUN: &str = "UPDATE runs SET status = ?2, ended_at_ms = ?3 WHERE id = ?1";

/// `?1` pipeline, `?2` trigger: when the most recent run of that trigger started.
pub(super) const LAST_STARTED: &str = "SELECT MAX(started_at_ms) FROM runs WHERE pipeline = ?1 AND trigger = ?2";

pub(super) const RUNNING_RUNS: &str = "SELECT id FROM runs WHERE status = 'running' ORDER BY started_at_ms, id";

/// Fails the stages of abandoned run ?1 that were running or waiting, at time ?2 with error ?3
/// of kind ?4.
pub(super) const ABANDON_STAGES: &str = "UPDATE stage_runs
    SET status = 'failed', ended_at_ms = ?2, error = ?3, error_kind = ?4
    WHERE run_id = ?1 AND status IN ('pending', 'running')";

/// Inserts a stage row or replaces every column of the existing one, keeping its `rowid` (and so
/// its place among stages that have not started).
pub(super) const UPSERT_STAGE: &str = "INSERT INTO stage_runs
        (run_id, stage, status, attempts, started_at_ms, ended_at_ms,
         rows_in, rows_out, rows_rejected, bytes_in, bytes_out, error, plugin_sha256, error_kind,
         input_wait_ms, plugin_path, plugin_name, plugin_version)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
    ON CONFLICT (run_id, stage) DO UPDATE SET
        status = excluded.status, attempts = excluded.attempts,
        started_at_ms = excluded.started_at_ms, ended_at_ms = excluded.ended_at_ms,
        rows_in = excluded.rows_in, rows_out = excluded.rows_out,
        rows_rejected = excluded.rows_rejected, bytes_in = excluded.bytes_in,
        bytes_out = excluded.bytes_out, error = excluded.error,
        plugin_sha256 = excluded.plugin_sha256, error_kind = excluded.error_kind,
        input_wait_ms = excluded.input_wait_ms, plugin_path = excluded.plugin_path,
        plugin_name = excluded.plugin_name, plugin_version = excluded.plugin_version";

pub(super) const DELETE_STAGE_METRICS: &str = "DELETE FROM stage_metrics WHERE run_id = ?1 AND stage = ?2";

pub(super) const INSERT_STAGE_METRIC: &str =
    "INSERT INTO stage_metrics (run_id, stage, seq, name, value) VALUES (?1, ?2, ?3, ?4, ?5)";

/// One run summary per row: the run's columns (0-8), its stage counts (9-15), its trigger (16),
/// for the runs that `$runs` (a parenthesised `SELECT * FROM runs ...`) yields, newest first.
/// Each query has a twin for stores older than [`TRIGGER_VERSION`], whose runs were all manual.
macro_rules! run_summaries {
    ($runs:literal) => {
        concat!(
            "SELECT r.id, r.pipeline, r.env, r.logical_date, r.status, r.started_at_ms,
                    r.ended_at_ms, r.resumed_from, r.config_digest, COUNT(s.stage),
                    COUNT(CASE WHEN s.status = 'pending' THEN 1 END),
                    COUNT(CASE WHEN s.status = 'running' THEN 1 END),
                    COUNT(CASE WHEN s.status = 'success' THEN 1 END),
                    COUNT(CASE WHEN s.status = 'failed' THEN 1 END),
                    COUNT(CASE WHEN s.status = 'skipped' THEN 1 END),
                    COUNT(CASE WHEN s.status = 'upstream_failed' THEN 1 END), r.trigger
             FROM ",
            $runs,
            " AS r LEFT JOIN stage_runs AS s ON s.run_id = r.id
             GROUP BY r.id
             ORDER BY r.started_at_ms DESC, r.id DESC"
        )
    };
}

/// `?1`: how many runs, newest first.
pub(super) const LIST_RUNS: [&str; 2] = [
    run_summaries!("(SELECT * FROM runs ORDER BY started_at_ms DESC, id DESC LIMIT ?1)"),
    run_summaries!("(SELECT *, 'manual' AS trigger FROM runs ORDER BY started_at_ms DESC, id DESC LIMIT ?1)"),
];

/// `?1`: the run id.
pub(super) const GET_RUN: [&str; 2] = [
    run_summaries!("(SELECT * FROM runs WHERE id = ?1)"),
    run_summaries!("(SELECT *, 'manual' AS trigger FROM runs WHERE id = ?1)"),
];

/// `?1`: the pipeline name.
pub(super) const LATEST_RUN: [&str; 2] = [
    run_summaries!("(SELECT * FROM runs WHERE pipeline = ?1 ORDER BY started_at_ms DESC, id DESC LIMIT 1)"),
    run_summaries!(
        "(SELECT *, 'manual' AS trigger FROM runs WHERE pipeline = ?1 ORDER BY started_at_ms DESC, id DESC LIMIT 1)"
    ),
];

/// A run's stages in start order; stages that never started follow, in the order they were
/// first recorded.
macro_rules! run_stages {
    ($later_columns:literal) => {
        concat!(
            "SELECT stage, status, attempts, started_at_ms, ended_at_ms,
                    rows_in, rows_out, rows_rejected, bytes_in, bytes_out, error, plugin_sha256, ",
            $later_columns,
            " FROM stage_runs WHERE run_id = ?1
             ORDER BY started_at_ms IS NULL, started_at_ms, rowid"
        )
    };
}

/// By the store's version, newest first: the query for stores of that version on (a column a
/// store lacks reads as null).
pub(super) const RUN_STAGES: [(i64, &str); 4] = [
    (PLUGIN_VERSION, run_stages!("error_kind, input_wait_ms, plugin_path, plugin_name, plugin_version")),
    (INPUT_WAIT_VERSION, run_stages!("error_kind, input_wait_ms, NULL, NULL, NULL")),
    (ERROR_KIND_VERSION, run_stages!("error_kind, NULL, NULL, NULL, NULL")),
    (0, run_stages!("NULL, NULL, NULL, NULL, NULL")),
];

pub(super) const DELETE_RUN_CHECKS: &str = "DELETE FROM run_checks WHERE run_id = ?1";

pub(super) const INSERT_RUN_CHECK: &str =
    "INSERT INTO run_checks (run_id, seq, name, passed, detail, figures) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// A run's checks in the order they were evaluated.
pub(super) const RUN_CHECKS: &str =
    "SELECT name, passed, detail, figures FROM run_checks WHERE run_id = ?1 ORDER BY seq";

pub(super) const RUN_METRICS: &str =
    "SELECT stage, name, value FROM stage_metrics WHERE run_id = ?1 ORDER BY stage, seq";

/// `?1`: how many finished runs, newest first; `?2`: the earliest start counted (unix ms).
pub(super) const RECENT_FINISHED_RUNS: &str = "SELECT status, started_at_ms, ended_at_ms FROM runs
    WHERE status <> 'running' AND started_at_ms >= ?2 ORDER BY started_at_ms DESC, id DESC LIMIT ?1";

/// Per (pipeline, stage) over the last `?1` finished runs started at `?2` (unix ms) or later: runs that recorded the stage,
/// failures, mean duration in ms (stages with both timestamps), mean `rows_out` of successful
/// executions. Ordered by pipeline, then by where the stage typically starts within its run.
pub(super) const STAGE_STATS: &str = "WITH recent AS (
        SELECT id, pipeline, started_at_ms FROM runs
        WHERE status <> 'running' AND started_at_ms >= ?2 ORDER BY started_at_ms DESC, id DESC LIMIT ?1
    )
    SELECT r.pipeline, s.stage, COUNT(*),
           COUNT(CASE WHEN s.status = 'failed' THEN 1 END),
           AVG(s.ended_at_ms - s.started_at_ms),
           AVG(CASE WHEN s.status = 'success' THEN s.rows_out END),
           AVG(s.started_at_ms - r.started_at_ms) AS offset_ms
    FROM stage_runs AS s JOIN recent AS r ON r.id = s.run_id
    GROUP BY r.pipeline, s.stage
    ORDER BY r.pipeline, offset_ms IS NULL, offset_ms, s.stage";

/// Records one alert delivery of run ?1 as the run's next one.
pub(super) const INSERT_RUN_ALERT: &str = "INSERT INTO run_alerts (run_id, seq, alert, event, delivered, detail, at_ms)
    VALUES (?1, (SELECT COALESCE(MAX(seq) + 1, 0) FROM run_alerts WHERE run_id = ?1), ?2, ?3, ?4, ?5, ?6)";

/// A run's alert deliveries in the order they were made.
pub(super) const RUN_ALERTS: &str =
    "SELECT alert, event, delivered, detail, at_ms FROM run_alerts WHERE run_id = ?1 ORDER BY seq";

/// When run ?1's artifacts were pruned, and the bytes that freed (both null if never).
pub(super) const RUN_PRUNED: &str = "SELECT pruned_at_ms, pruned_bytes FROM runs WHERE id = ?1";

/// Every run of the store, newest first per pipeline: id, pipeline, status, start, whether its
/// artifacts were pruned. Retention picks from these.
pub(super) const RETENTION_RUNS: [&str; 2] = [
    "SELECT id, pipeline, status, started_at_ms, pruned_at_ms IS NOT NULL FROM runs
     ORDER BY pipeline, started_at_ms DESC, id DESC",
    "SELECT id, pipeline, status, started_at_ms, 0 FROM runs
     ORDER BY pipeline, started_at_ms DESC, id DESC",
];

/// Marks run ?1's artifacts pruned at ?2, freeing ?3 bytes.
pub(super) const MARK_PRUNED: &str =
    "UPDATE runs SET pruned_at_ms = ?2, pruned_bytes = ?3 WHERE id = ?1 AND pruned_at_ms IS NULL";
