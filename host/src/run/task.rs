//! One run, many processes: each stage of a run executed by a process of its own (a task of an
//! orchestrator such as Airflow: `host run --run-id ID --stage S`), then the run finished by one
//! more (`host run --run-id ID --finish`).
//!
//! While such a run goes on, its folder (`<state>/runs/<id>/`) is its record, and every file in
//! it has one writer:
//!
//! - `task-run.json`: what the run is (pipeline, env, logical date, config digest, trigger, when
//!   its first task started), created once by whichever task comes first (`O_EXCL`); a later
//!   task of the run checks it was given the same configuration and date.
//! - `stages/<stage>.json`: the stage's record, replaced whole (written beside, then renamed) by
//!   the process holding `stages/<stage>.lease` (an `flock`), so two workers never run one stage
//!   of a run at once and a reader never sees half a record. A stage task records `running`
//!   before it starts: a record left `running` with nobody holding the lease was abandoned (the
//!   worker was killed), and the orchestrator's next attempt at the task starts it afresh.
//! - `artifacts/<stage>/`: the stage's outputs, written by its task only.
//!
//! No stage task writes the SQLite run store. The finishing task takes the run's lease and every
//! stage's lease (so no stage task runs meanwhile), reads the stage records, writes the
//! quarantine, evaluates the checks, and records the whole run in the store in one go, then fires
//! the alerts and applies retention; finishing again (an orchestrator's retry, or after a stage
//! was re-run) records the run anew.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::record::{apply_retention, check_records, finish_alerts, stage_record};
use super::{Artifacts, RunObserver, RunOptions, StageOutcome, TaskAttempt, checks, sinks};
use crate::alerts::Dispatcher;
use crate::config::Plan;
use crate::dag::{RunStatus, StageStatus};
use crate::state::{NewRun, RunDetail, RunLease, RunStore, StageRecord, StateError, Timestamp, Trigger};

/// What every task of a run must agree on.
#[derive(Debug, Clone)]
pub struct TaskRun {
    pub run_id: String,
    /// The environment the plan was loaded for.
    pub env: String,
    /// The sha256 of the merged configuration: every task of a run must be given the same.
    pub config_digest: String,
    /// `YYYY-MM-DD`.
    pub logical_date: String,
    pub trigger: Trigger,
}

/// What a stage task did.
#[derive(Debug)]
pub struct StageTask {
    pub outcome: StageOutcome,
    /// Whether no attempt of the task remains: the stage's own retries were made here, or the
    /// orchestrator's attempt number is past the stage's `retries`.
    pub last_attempt: bool,
    pub critical: bool,
}

/// A task that could not run its stage, or a run that could not be finished. A stage that ran
/// and failed is not an error: it is in the [`StageTask`].
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("--stage {name}: no such stage (stages: {})", stages.join(", "))]
    UnknownStage { name: String, stages: Vec<String> },
    #[error("--run-id {0:?}: a run id is 1 to 128 letters, digits, `.`, `_` or `-`, starting with a letter or digit")]
    BadRunId(String),
    #[error(
        "run {run_id} was started for {what} {recorded}, this task was given {given}: \
         every task of a run needs the same pipeline file, environment and --date"
    )]
    Mismatch { run_id: String, what: &'static str, recorded: String, given: String },
    #[error("stage {stage} of run {run_id} cannot start: its upstream stage {upstream} {state}")]
    UpstreamNotDone { run_id: String, stage: String, upstream: String, state: String },
    #[error("stage {stage} of run {run_id} is being run by another process ({})", lease.display())]
    StageBusy { run_id: String, stage: String, lease: PathBuf },
    #[error("run {run_id} has no task records in {}: run its stages with --stage first", dir.display())]
    NoSuchRun { run_id: String, dir: PathBuf },
    #[error("run {run_id} is being finished by another process")]
    RunBusy { run_id: String },
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("{} is not a task record: {source}", path.display())]
    Corrupt { path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Run(#[from] super::RunError),
}

impl TaskError {
    /// Whether the request itself was wrong (a usage error), not the machine or the store.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            TaskError::UnknownStage { .. }
                | TaskError::BadRunId(_)
                | TaskError::Mismatch { .. }
                | TaskError::UpstreamNotDone { .. }
                | TaskError::NoSuchRun { .. }
        )
    }
}

/// `task-run.json`.
#[derive(Debug, Serialize, Deserialize)]
struct RunFile {
    pipeline: String,
    env: String,
    logical_date: String,
    config_digest: String,
    trigger: String,
    started_at_ms: i64,
}

/// `stages/<stage>.json`: a [`StageRecord`] as a task wrote it.
#[derive(Debug, Serialize, Deserialize)]
struct StageFile {
    status: String,
    attempts: u32,
    started_at_ms: Option<i64>,
    ended_at_ms: Option<i64>,
    rows_in: u64,
    rows_out: u64,
    rows_rejected: u64,
    bytes_in: u64,
    bytes_out: u64,
    error: Option<String>,
    error_kind: Option<String>,
    input_wait_ms: Option<u64>,
    plugin_sha256: Option<String>,
    plugin_path: Option<String>,
    plugin_name: Option<String>,
    plugin_version: Option<String>,
    metrics: Vec<(String, i64)>,
}

impl StageFile {
    fn of(record: &StageRecord) -> Self {
        StageFile {
            status: record.status.as_str().to_owned(),
            attempts: record.attempts,
            started_at_ms: record.started_at.map(Timestamp::unix_millis),
            ended_at_ms: record.ended_at.map(Timestamp::unix_millis),
            rows_in: record.rows_in,
            rows_out: record.rows_out,
            rows_rejected: record.rows_rejected,
            bytes_in: record.bytes_in,
            bytes_out: record.bytes_out,
            error: record.error.clone(),
            error_kind: record.error_kind.clone(),
            input_wait_ms: record.input_wait_ms,
            plugin_sha256: record.plugin_sha256.clone(),
            plugin_path: record.plugin_path.clone(),
            plugin_name: record.plugin_name.clone(),
            plugin_version: record.plugin_version.clone(),
            metrics: record.metrics.clone(),
        }
    }

    fn record(self, stage: &str, path: &Path) -> Result<StageRecord, TaskError> {
        let status = self
            .status
            .parse::<StageStatus>()
            .map_err(|e| TaskError::Corrupt { path: path.to_owned(), source: serde::de::Error::custom(e) })?;
        Ok(StageRecord {
            stage: stage.to_owned(),
            status,
            attempts: self.attempts,
            started_at: self.started_at_ms.map(Timestamp::from_unix_millis),
            ended_at: self.ended_at_ms.map(Timestamp::from_unix_millis),
            rows_in: self.rows_in,
            rows_out: self.rows_out,
            rows_rejected: self.rows_rejected,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            error: self.error,
            error_kind: self.error_kind,
            input_wait_ms: self.input_wait_ms,
            plugin_sha256: self.plugin_sha256,
            plugin_path: self.plugin_path,
            plugin_name: self.plugin_name,
            plugin_version: self.plugin_version,
            metrics: self.metrics,
        })
    }
}

/// The files of one task run.
struct RunFolder {
    run_id: String,
    dir: PathBuf,
}

impl RunFolder {
    fn new(plan: &Plan, run_id: &str) -> Result<Self, TaskError> {
        if !crate::state::is_run_id(run_id) {
            return Err(TaskError::BadRunId(run_id.to_owned()));
        }
        Ok(RunFolder { run_id: run_id.to_owned(), dir: super::run_dir(plan, run_id) })
    }

    fn run_file(&self) -> PathBuf {
        self.dir.join("task-run.json")
    }

    fn stage_file(&self, stage: &str) -> PathBuf {
        self.dir.join("stages").join(format!("{stage}.json"))
    }

    fn stage_lease(&self, stage: &str) -> Result<StageLease, TaskError> {
        let path = self.dir.join("stages").join(format!("{stage}.lease"));
        let io = |source| TaskError::Io { what: "cannot take the stage lease", path: path.clone(), source };
        fs::create_dir_all(self.dir.join("stages")).map_err(io)?;
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(StageLease(file)),
            Err(fs::TryLockError::WouldBlock) => {
                Err(TaskError::StageBusy { run_id: self.run_id.clone(), stage: stage.to_owned(), lease: path })
            }
            Err(fs::TryLockError::Error(source)) => Err(io(source)),
        }
    }

    /// The run's `task-run.json`, created from `run` if no task made it yet, else checked
    /// against it.
    fn join(&self, plan: &Plan, run: &TaskRun) -> Result<RunFile, TaskError> {
        let mine = RunFile {
            pipeline: plan.pipeline.clone(),
            env: run.env.clone(),
            logical_date: run.logical_date.clone(),
            config_digest: run.config_digest.clone(),
            trigger: run.trigger.as_str().to_owned(),
            started_at_ms: Timestamp::now().unix_millis(),
        };
        let path = self.run_file();
        let io = |source| TaskError::Io { what: "cannot write", path: path.clone(), source };
        fs::create_dir_all(&self.dir).map_err(io)?;
        // Written beside, then linked into place: the first task's file wins, whole.
        let draft = self.dir.join(format!(".task-run.{}.json", std::process::id()));
        write_synced(&draft, &serde_json::to_vec_pretty(&mine).expect("a task run serializes")).map_err(io)?;
        let linked = fs::hard_link(&draft, &path);
        let _ = fs::remove_file(&draft);
        match linked {
            Ok(()) => return Ok(mine),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        let recorded = self.read_run()?;
        for (what, recorded, given) in [
            ("pipeline", &recorded.pipeline, &mine.pipeline),
            ("environment", &recorded.env, &mine.env),
            ("logical date", &recorded.logical_date, &mine.logical_date),
            ("configuration", &recorded.config_digest, &mine.config_digest),
        ] {
            if recorded != given {
                return Err(TaskError::Mismatch {
                    run_id: self.run_id.clone(),
                    what,
                    recorded: recorded.clone(),
                    given: given.clone(),
                });
            }
        }
        Ok(recorded)
    }

    fn read_run(&self) -> Result<RunFile, TaskError> {
        let path = self.run_file();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(TaskError::NoSuchRun { run_id: self.run_id.clone(), dir: self.dir.clone() });
            }
            Err(source) => return Err(TaskError::Io { what: "cannot read", path, source }),
        };
        serde_json::from_slice(&bytes).map_err(|source| TaskError::Corrupt { path, source })
    }

    fn read_stage(&self, stage: &str) -> Result<Option<StageRecord>, TaskError> {
        let path = self.stage_file(stage);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(TaskError::Io { what: "cannot read", path, source }),
        };
        let file: StageFile =
            serde_json::from_slice(&bytes).map_err(|source| TaskError::Corrupt { path: path.clone(), source })?;
        file.record(stage, &path).map(Some)
    }

    /// Replaces `stages/<stage>.json`; the caller holds the stage's lease.
    fn write_stage(&self, record: &StageRecord) -> Result<(), TaskError> {
        let path = self.stage_file(&record.stage);
        let draft = path.with_extension("json.draft");
        let bytes = serde_json::to_vec_pretty(&StageFile::of(record)).expect("a stage record serializes");
        write_synced(&draft, &bytes).and_then(|()| fs::rename(&draft, &path)).map_err(|source| TaskError::Io {
            what: "cannot write",
            path,
            source,
        })
    }
}

/// The lease of one stage of one task run, held until dropped.
struct StageLease(File);

impl Drop for StageLease {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// An orchestrator's attempt at a stage task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first.
    pub number: u32,
    /// The attempts the orchestrator makes in all, when it says (it may grow: Airflow adds
    /// attempts when a task is cleared); else the stage's `retries` + 1.
    pub of: Option<u32>,
}

/// Runs stage `stage` of task run `run` (see the module's docs): the orchestrator's one
/// `attempt` when it retries, else the stage's own retries.
pub fn run_stage(
    plan: &Plan,
    run: &TaskRun,
    stage: &str,
    attempt: Option<Attempt>,
    observer: &dyn RunObserver,
) -> Result<StageTask, TaskError> {
    let Some(index) = plan.stage_index(stage) else {
        let stages = plan.stages.iter().map(|s| s.name.clone()).collect();
        return Err(TaskError::UnknownStage { name: stage.to_owned(), stages });
    };
    let folder = RunFolder::new(plan, &run.run_id)?;
    folder.join(plan, run)?;
    let _lease = folder.stage_lease(stage)?;
    for &upstream in plan.graph.deps(index) {
        let name = &plan.stages[upstream].name;
        let state = match folder.read_stage(name)? {
            Some(record) if matches!(record.status, StageStatus::Success | StageStatus::Skipped) => continue,
            Some(record) => format!("is {}", record.status),
            None => "has not run".to_owned(),
        };
        return Err(TaskError::UpstreamNotDone {
            run_id: run.run_id.clone(),
            stage: stage.to_owned(),
            upstream: name.clone(),
            state,
        });
    }

    let started_at = Timestamp::now();
    let running = StageRecord {
        status: StageStatus::Running,
        attempts: attempt.map_or(1, |a| a.number),
        started_at: Some(started_at),
        ..StageRecord::pending(stage)
    };
    folder.write_stage(&running)?;
    observer.run_started(&run.run_id, &folder.dir);
    tracing::info!(run_id = %run.run_id, stage, attempt = attempt.map(|a| a.number), "stage task started");
    let options = RunOptions {
        run_id: run.run_id.clone(),
        logical_date: run.logical_date.clone(),
        parallelism: 1,
        streaming: false,
        native_stages: false,
        only: vec![stage.to_owned()],
        previous: None,
        cancel: None,
        task: Some(TaskAttempt { attempt: attempt.map(|a| a.number) }),
    };
    let outcome = super::run(plan, &options, observer)?;
    let outcome = outcome.stages.into_iter().nth(index).expect("the run has every stage");
    folder.write_stage(&stage_record(&outcome, Some(started_at)))?;
    let planned = &plan.stages[index];
    let last_attempt = attempt.is_none_or(|a| a.number >= a.of.unwrap_or(planned.retries.saturating_add(1)));
    Ok(StageTask { last_attempt, critical: planned.critical, outcome })
}

/// What finishing a task run recorded.
#[derive(Debug)]
pub struct FinishedRun {
    pub detail: RunDetail,
    pub summary: PathBuf,
}

/// Finishes task run `run_id` (see the module's docs) and records it in the run store.
pub fn finish(plan: &Plan, run: &TaskRun) -> Result<FinishedRun, TaskError> {
    let folder = RunFolder::new(plan, &run.run_id)?;
    let header = folder.read_run()?;
    let state = &plan.paths.state;
    let _run_lease = RunLease::take(state, &run.run_id).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => TaskError::RunBusy { run_id: run.run_id.clone() },
        _ => TaskError::Io { what: "cannot take the run lease in", path: folder.dir.clone(), source: e },
    })?;
    // No stage task may run while the run is finished.
    let stage_leases = plan.stages.iter().map(|s| folder.stage_lease(&s.name)).collect::<Result<Vec<_>, _>>()?;

    let now = Timestamp::now();
    // In run order, so that a stage's upstreams are settled before it; recorded in file order.
    let mut records: Vec<Option<StageRecord>> = vec![None; plan.stages.len()];
    let mut failed: BTreeMap<usize, String> = BTreeMap::new();
    for &index in &plan.order {
        let planned = &plan.stages[index];
        let record = match folder.read_stage(&planned.name)? {
            // Its lease was free: the task running it stopped.
            Some(record) if record.status == StageStatus::Running => StageRecord {
                status: StageStatus::Failed,
                ended_at: Some(now),
                error: Some(crate::state::ABANDONED.to_owned()),
                error_kind: Some("abandoned".to_owned()),
                ..record
            },
            Some(record) => record,
            None => {
                let upstream = plan.graph.deps(index).iter().find_map(|d| failed.get(d)).cloned();
                match upstream {
                    Some(upstream) => StageRecord {
                        status: StageStatus::UpstreamFailed,
                        error: Some(format!("not run: upstream stage \"{upstream}\" failed")),
                        error_kind: Some("upstream_failed".to_owned()),
                        ..StageRecord::pending(&planned.name)
                    },
                    None => StageRecord {
                        status: StageStatus::Failed,
                        error: Some("not run: no task ran this stage".to_owned()),
                        error_kind: Some("not_run".to_owned()),
                        ..StageRecord::pending(&planned.name)
                    },
                }
            }
        };
        match record.status {
            StageStatus::Failed => {
                failed.insert(index, planned.name.clone());
            }
            StageStatus::UpstreamFailed => {
                let upstream = plan.graph.deps(index).iter().find_map(|d| failed.get(d)).cloned();
                failed.insert(index, upstream.unwrap_or_else(|| planned.name.clone()));
            }
            _ => {}
        }
        records[index] = Some(record);
    }
    let records: Vec<StageRecord> = records.into_iter().flatten().collect();
    let mut status = RunStatus::of_stages(records.iter().zip(&plan.stages).map(|(r, s)| (r.status, s.critical)));

    // Every rejected row the stages wrote, whatever else happened; then the invariants.
    let artifacts = Artifacts::new(state, &run.run_id);
    let quarantine = match sinks::write_quarantine(plan, &artifacts, &run.run_id) {
        Ok(totals) => totals,
        Err(error) => {
            tracing::error!(%error, "cannot write the quarantine");
            status = RunStatus::Failed;
            Vec::new()
        }
    };
    let checks = if status == RunStatus::Failed { Vec::new() } else { checks::evaluate(plan, &artifacts, &quarantine) };
    if checks.iter().any(|c| !c.passed) {
        status = RunStatus::Failed;
    }

    let store = RunStore::open(state)?;
    let trigger = Trigger::ALL.into_iter().find(|t| t.as_str() == header.trigger).unwrap_or(run.trigger);
    store.replace_run(&NewRun {
        id: run.run_id.clone(),
        pipeline: header.pipeline,
        env: header.env,
        logical_date: header.logical_date,
        started_at: Timestamp::from_unix_millis(header.started_at_ms),
        resumed_from: None,
        config_digest: header.config_digest,
        trigger,
    })?;
    for record in &records {
        store.upsert_stage(&run.run_id, record)?;
    }
    store.record_checks(&run.run_id, &check_records(&checks))?;
    store.finish_run(&run.run_id, status, Timestamp::now())?;
    let alerts = Dispatcher::start(&plan.alerts, state.clone(), &plan.pipeline, &run.run_id);
    finish_alerts(alerts, &store, &run.run_id);
    let summary = store.write_summary(state, &run.run_id)?;
    let detail = store.get_run(&run.run_id)?.expect("the run was just recorded");
    drop(stage_leases);
    apply_retention(plan, &run.run_id);
    tracing::info!(run_id = %run.run_id, status = status.as_str(), "task run finished");
    Ok(FinishedRun { detail, summary })
}
