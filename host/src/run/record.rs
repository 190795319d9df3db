//! A run as the run store keeps it: [`record`] reaps runs whose host died, picks the earlier run
//! that `--resume`/`--only` reuse, takes the new run's lease, records the run and every stage
//! change as it happens, then its checks, its status, its alerts ([`crate::alerts`]) and its
//! `summary.json`, and last applies the pipeline's `retention:` ([`super::retention`]).
//! `host run` and `host schedule` call it; so will one-stage tasks of other orchestrators.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use super::retention;
use super::{CheckOutcome, PreviousRun, RunError, RunObserver, RunOptions, RunOutcome, StageOutcome};
use crate::alerts::Dispatcher;
use crate::config::Plan;
use crate::dag::StageStatus;
use crate::state::{CheckRecord, NewRun, RunLease, RunStore, StageRecord, StateError, Timestamp, Trigger};

/// A run to make and record.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The environment the plan was loaded for, recorded with the run.
    pub env: String,
    /// The sha256 of the merged configuration, recorded with the run.
    pub config_digest: String,
    /// The logical date, `YYYY-MM-DD`.
    pub logical_date: String,
    /// The most stages running at once; `None`: every ready stage when streaming (a stage
    /// waiting for its upstream's rows uses no core), else one per core.
    pub parallelism: Option<usize>,
    /// See [`RunOptions::streaming`].
    pub streaming: bool,
    /// See [`RunOptions::native_stages`].
    pub native_stages: bool,
    /// Run only these stages, on the latest run's outputs.
    pub only: Vec<String>,
    /// Re-run what this run did not finish (and its downstream), reusing the rest.
    pub resume: Option<String>,
    /// What starts the run, recorded with it.
    pub trigger: Trigger,
    /// See [`RunOptions::cancel`].
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The run's id, chosen by the caller (`--run-id`); `None`: a new one from the time.
    pub run_id: Option<String>,
}

/// A recorded run: what happened, and where its summary is.
#[derive(Debug)]
pub struct RecordedRun {
    pub outcome: RunOutcome,
    pub summary: PathBuf,
}

/// A run that could not be made or recorded. Stage failures are not errors: they are in the
/// outcome.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// `--only` names a stage the plan doesn't have.
    #[error("--only {name}: no such stage (stages: {})", stages.join(", "))]
    UnknownStage { name: String, stages: Vec<String> },
    /// `--resume` names a run the store doesn't have.
    #[error("--resume {0}: no such run")]
    NoSuchRun(String),
    /// `--only` needs an earlier run to take the other stages' outputs from.
    #[error("--only needs an earlier run's outputs, and pipeline {0} has no run yet")]
    NoEarlierRun(String),
    /// `--resume`/`--only` would reuse the outputs of a run whose artifacts retention deleted.
    #[error(
        "{option}: run {run_id}'s artifacts (the stage outputs {option} reuses) were pruned by retention at {at}; \
         its record, summary.json and run.log remain: start a full run instead"
    )]
    Pruned { option: &'static str, run_id: String, at: Timestamp },
    /// `--run-id` names a run the store already has.
    #[error("--run-id {run_id}: the run store {} already has a run {run_id}: choose another id, or --resume it", store.display())]
    RunExists { run_id: String, store: PathBuf },
    /// The run `--resume`/`--only` would reuse is running, or its artifacts are being pruned.
    #[error("{option}: run {run_id} is in use: {source}")]
    InUse { option: &'static str, run_id: String, source: std::io::Error },
    #[error("cannot create state directory {}: {source}", path.display())]
    StateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot take the lease of run {run_id} in {}: {source}", dir.display())]
    Lease { run_id: String, dir: PathBuf, source: std::io::Error },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Run(#[from] RunError),
}

impl RecordError {
    /// Whether the request itself was wrong (a usage error), not the machine or the store.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RecordError::UnknownStage { .. }
                | RecordError::NoSuchRun(_)
                | RecordError::NoEarlierRun(_)
                | RecordError::Pruned { .. }
                | RecordError::InUse { .. }
                | RecordError::RunExists { .. }
                | RecordError::Run(RunError::UnknownStage(_))
        )
    }
}

/// Makes the run `request` asks for of `plan` and records it in the plan's run store;
/// `observer` sees the run start (with its id and folder) and every stage change.
pub fn record(plan: &Plan, request: &RunRequest, observer: &dyn RunObserver) -> Result<RecordedRun, RecordError> {
    if let Some(name) = request.only.iter().find(|name| plan.stage_index(name).is_none()) {
        let stages = plan.stages.iter().map(|s| s.name.clone()).collect();
        return Err(RecordError::UnknownStage { name: name.clone(), stages });
    }
    let state = &plan.paths.state;
    std::fs::create_dir_all(state).map_err(|source| RecordError::StateDir { path: state.clone(), source })?;
    let store = RunStore::open(state)?;
    for abandoned in store.reap_abandoned(state, Timestamp::now())? {
        tracing::warn!(run_id = %abandoned, "run was left running by a host that stopped; marked failed");
    }
    // The earlier run whose outputs this one reuses, held (shared) until this run is recorded:
    // retention does not delete what the run may still read.
    let (previous, source_hold) = previous_run(&store, plan, request)?.unzip();
    let run_id = match &request.run_id {
        Some(id) if store.get_run(id)?.is_some() => {
            return Err(RecordError::RunExists { run_id: id.clone(), store: store.path().to_owned() });
        }
        Some(id) => id.clone(),
        None => RunStore::new_run_id(Timestamp::now()),
    };
    // Held until the run is recorded: while it is, no other host takes this run for abandoned.
    let _lease = RunLease::take(state, &run_id).map_err(|source| RecordError::Lease {
        run_id: run_id.clone(),
        dir: state.clone(),
        source,
    })?;
    store.start_run(&NewRun {
        id: run_id.clone(),
        pipeline: plan.pipeline.clone(),
        env: request.env.clone(),
        logical_date: request.logical_date.clone(),
        started_at: Timestamp::now(),
        resumed_from: previous.as_ref().map(|p| p.run_id.clone()),
        config_digest: request.config_digest.clone(),
        trigger: request.trigger,
    })?;
    observer.run_started(&run_id, &super::run_dir(plan, &run_id));
    tracing::info!(run_id = %run_id, pipeline = %plan.pipeline, date = %request.logical_date, "run started");

    let alerts = Dispatcher::start(&plan.alerts, state.clone(), &plan.pipeline, &run_id);
    let recorder = Recorder { store: Mutex::new(store), run_id: run_id.clone(), started: Mutex::new(HashMap::new()) };
    let options = RunOptions {
        run_id: run_id.clone(),
        logical_date: request.logical_date.clone(),
        parallelism: request.parallelism.unwrap_or_else(|| default_parallelism(plan, request.streaming)),
        streaming: request.streaming,
        native_stages: request.native_stages,
        only: request.only.clone(),
        previous,
        cancel: request.cancel.clone(),
        task: None,
    };
    let outcome = super::run(plan, &options, &(&recorder, (&alerts, observer)));
    let store = recorder.store.into_inner().unwrap_or_else(|e| e.into_inner());
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            // Nothing ran: the run is failed, not left running.
            if let Err(finish) = store.finish_run(&run_id, crate::dag::RunStatus::Failed, Timestamp::now()) {
                tracing::error!(error = %finish, "cannot record the run as failed");
            }
            finish_alerts(alerts, &store, &run_id);
            return Err(error.into());
        }
    };
    if let Err(error) = store.record_checks(&run_id, &check_records(&outcome.checks)) {
        // Still finish the run: its status matters more than the record of its checks.
        tracing::error!(%error, "cannot record the checks in the run store");
    }
    store.finish_run(&run_id, outcome.status, Timestamp::now())?;
    finish_alerts(alerts, &store, &run_id);
    let summary = store.write_summary(state, &run_id)?;
    drop(source_hold);
    apply_retention(plan, &run_id);
    tracing::info!(run_id = %run_id, status = outcome.status.as_str(), seconds = outcome.duration_s, "run finished");
    Ok(RecordedRun { outcome, summary })
}

/// Applies the pipeline's `retention:` after run `run_id` was recorded; a failure is logged.
pub(super) fn apply_retention(plan: &Plan, run_id: &str) {
    if let Some(policy) = &plan.retention {
        match retention::prune(&plan.paths.state, policy, Some(&plan.pipeline), Some(run_id), false) {
            Ok(report) if !report.runs.is_empty() => {
                tracing::info!(runs = report.runs.len(), bytes = report.bytes, "retention pruned older runs' artifacts")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "retention could not prune older runs' artifacts"),
        }
    }
}

/// Fires the finished run's alerts with its summary and waits for them to be delivered and
/// recorded; a run that can't be read back fires none (the error is logged).
pub(super) fn finish_alerts(alerts: Dispatcher, store: &RunStore, run_id: &str) {
    match store.get_run(run_id) {
        Ok(Some(detail)) => alerts.finish(detail),
        Ok(None) => tracing::error!(run_id, "the finished run is not in the run store (this is a bug): no alert sent"),
        Err(error) => tracing::error!(%error, "cannot read the finished run back: no alert sent"),
    }
}

/// Every ready stage when streaming (a stage waiting for rows uses no core), else one per core.
fn default_parallelism(plan: &Plan, streaming: bool) -> usize {
    if streaming { plan.stages.len() } else { std::thread::available_parallelism().map_or(2, |n| n.get()) }
}

/// The run whose outputs `--resume` or `--only` reuse.
/// The run whose outputs `--resume` or `--only` reuse, with a shared hold on its lease (see
/// [`RunLease::share`]); its record is read once the hold is taken, so a prune that finished
/// before shows.
fn previous_run(
    store: &RunStore,
    plan: &Plan,
    request: &RunRequest,
) -> Result<Option<(PreviousRun, RunLease)>, RecordError> {
    let option = if request.resume.is_some() { "--resume" } else { "--only" };
    let run_id = match (&request.resume, request.only.is_empty()) {
        (Some(id), _) => id.clone(),
        (None, false) => match store.latest_run(&plan.pipeline)? {
            Some(latest) => latest.run.id,
            None => return Err(RecordError::NoEarlierRun(plan.pipeline.clone())),
        },
        (None, true) => return Ok(None),
    };
    if store.get_run(&run_id)?.is_none() {
        return Err(RecordError::NoSuchRun(run_id));
    }
    let hold = RunLease::share(&plan.paths.state, &run_id).map_err(|source| RecordError::InUse {
        option,
        run_id: run_id.clone(),
        source,
    })?;
    let detail = store.get_run(&run_id)?.ok_or_else(|| RecordError::NoSuchRun(run_id.clone()))?;
    if let Some(pruned) = &detail.pruned {
        return Err(RecordError::Pruned { option, run_id: detail.run.id.clone(), at: pruned.at });
    }
    let succeeded: BTreeSet<String> = detail
        .stages
        .iter()
        .filter(|s| matches!(s.record.status, StageStatus::Success | StageStatus::Skipped))
        .map(|s| s.record.stage.clone())
        .collect();
    Ok(Some((PreviousRun { run_id: detail.run.id.clone(), succeeded, resume: request.resume.is_some() }, hold)))
}

/// The run's checks as the run store records them.
pub(super) fn check_records(checks: &[CheckOutcome]) -> Vec<CheckRecord> {
    checks
        .iter()
        .map(|c| CheckRecord {
            name: c.check.clone(),
            passed: c.passed,
            detail: c.detail.clone(),
            figures: c.figures.clone(),
        })
        .collect()
}

/// Writes every stage change to the run store.
struct Recorder {
    store: Mutex<RunStore>,
    run_id: String,
    started: Mutex<HashMap<String, Timestamp>>,
}

impl RunObserver for Recorder {
    fn stage_started(&self, stage: &str, attempt: u32) {
        let now = Timestamp::now();
        self.started.lock().unwrap_or_else(|e| e.into_inner()).entry(stage.to_owned()).or_insert(now);
        let mut record = StageRecord::pending(stage);
        record.status = StageStatus::Running;
        record.attempts = attempt;
        record.started_at = Some(now);
        self.save(&record);
    }

    fn stage_finished(&self, outcome: &StageOutcome) {
        let started_at = self.started.lock().unwrap_or_else(|e| e.into_inner()).get(&outcome.name).copied();
        self.save(&stage_record(outcome, started_at));
    }
}

/// The run store's record of a stage that ended as `outcome`, started at `started_at` (none if
/// it never started) and ending now.
pub(super) fn stage_record(outcome: &StageOutcome, started_at: Option<Timestamp>) -> StageRecord {
    let mut record = StageRecord::pending(&outcome.name);
    record.status = outcome.status;
    record.attempts = outcome.attempts;
    record.started_at = started_at;
    record.ended_at = started_at.map(|_| Timestamp::now());
    record.error = outcome.error.as_ref().map(ToString::to_string);
    record.error_kind = outcome.error_kind.map(str::to_owned);
    if let Some(report) = &outcome.report {
        record.rows_in = report.rows_in;
        record.rows_out = report.rows_out;
        record.rows_rejected = report.rows_rejected;
        record.bytes_in = report.bytes_in;
        record.bytes_out = report.bytes_out;
        record.metrics = report.metrics.clone();
        record.input_wait_ms = Some((report.input_wait_s * 1000.0).round() as u64);
    }
    record.plugin_sha256 = outcome.plugin_sha256.clone();
    record.plugin_path = outcome.plugin_path.clone();
    record.plugin_name = outcome.plugin_name.clone();
    record.plugin_version = outcome.plugin_version.clone();
    record
}

impl Recorder {
    fn save(&self, record: &StageRecord) {
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = store.upsert_stage(&self.run_id, record) {
            tracing::error!(stage = %record.stage, %error, "cannot record stage in the run store");
        }
    }
}
