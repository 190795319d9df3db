//! One run of a plan: [`run`] picks the stages to run (all, `--only`, or what `--resume` left
//! to do), schedules them, and gathers what happened; [`record`] makes a run and keeps it in the
//! run store (its record, lease, stages, checks and summary), as `host run` does.

mod artifacts;
mod checks;
mod failure;
mod messages;
mod native;
mod record;
pub mod retention;
mod sinks;
mod stages;
pub mod task;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Plan, StageKind};
use crate::dag::scheduler::{self, AttemptError, Observer, TaskResult, TaskSpec};
use crate::dag::{RunStatus, StageStatus};
use crate::runtime::RunInfo;

pub use artifacts::ArtifactError;
pub use artifacts::Artifacts;
use artifacts::Live;
pub use checks::CheckOutcome;
pub use failure::StageFailure;
pub use record::{RecordError, RecordedRun, RunRequest, record};
pub use stages::{StageContext, StageReport};

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub run_id: String,
    /// The logical date (`--date`), recorded with the run.
    pub logical_date: String,
    pub parallelism: usize,
    /// Start stages while the stages they read from still run, reading their outputs as they are
    /// written (otherwise each starts once its inputs are complete).
    pub streaming: bool,
    /// Run plugin stages through their crates linked into the host, not in the sandbox: only
    /// builds with the `native-stages` feature can (it exists to measure the sandbox's cost).
    pub native_stages: bool,
    /// Run only these stages; the others' outputs come from `previous`.
    pub only: Vec<String>,
    /// An earlier run whose successful stages' outputs are reused.
    pub previous: Option<PreviousRun>,
    /// Set to cancel the run: no stage starts any more, running stages fail at their next batch
    /// (`cancelled`), and the run is failed.
    pub cancel: Option<Arc<AtomicBool>>,
    /// One stage of a run executed as a task of its own ([`task`]): the stages in `only` read
    /// the outputs earlier tasks of the same run wrote; no quarantine and no checks (the run's
    /// finishing task does them).
    pub task: Option<TaskAttempt>,
}

/// How a stage task attempts its stage.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskAttempt {
    /// The orchestrator's attempt number: the host makes that one attempt and the orchestrator
    /// retries; `None`: the stage's own `retries` apply.
    pub attempt: Option<u32>,
}

/// What an earlier run left: its id and which stages succeeded.
#[derive(Debug, Clone)]
pub struct PreviousRun {
    pub run_id: String,
    pub succeeded: BTreeSet<String>,
    /// Resume: re-run what did not succeed and everything downstream of it.
    pub resume: bool,
}

/// What happened to one stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageOutcome {
    pub name: String,
    pub kind: &'static str,
    pub status: StageStatus,
    pub attempts: u32,
    pub duration_s: Option<f64>,
    pub report: Option<StageReport>,
    /// Why it failed or did not run; in JSON, its message.
    #[serde(serialize_with = "serialize_display")]
    pub error: Option<StageFailure>,
    /// The failure's [`kind`](StageFailure::kind): `memory`, `timeout`, `upstream_failed`, ...
    pub error_kind: Option<&'static str>,
    /// A plugin stage's plugin digest, whether it succeeded or not.
    pub plugin_sha256: Option<String>,
    /// A plugin stage's `.wasm` path as resolved, and the name and version the plugin declares.
    pub plugin_path: Option<String>,
    pub plugin_name: Option<String>,
    pub plugin_version: Option<String>,
}

fn serialize_display<S: serde::Serializer>(value: &Option<StageFailure>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

/// What happened in the run.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub run_id: String,
    pub pipeline: String,
    pub logical_date: String,
    pub status: RunStatus,
    pub duration_s: f64,
    pub stages: Vec<StageOutcome>,
    /// Rows written to the quarantine, per source.
    pub quarantine: Vec<(String, u64)>,
    pub quarantine_error: Option<String>,
    /// The pipeline's `checks:`, with their figures.
    pub checks: Vec<CheckOutcome>,
}

/// A run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("--only {0}: no such stage")]
    UnknownStage(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

/// Observes the run for the console and the run store.
pub trait RunObserver: Sync {
    /// The run has its id and its folder (`<state>/runs/<id>/`, see [`run_dir`]), and is about
    /// to start its stages ([`record`] tells; [`run`] alone knows no id but the one it is given).
    fn run_started(&self, _run_id: &str, _dir: &Path) {}
    fn stage_started(&self, _stage: &str, _attempt: u32) {}
    fn stage_retrying(&self, _stage: &str, _attempt: u32, _error: &StageFailure, _wait: Duration) {}
    /// An attempt stopped because an upstream it was reading failed; it starts again on the
    /// upstream's next attempt.
    fn stage_interrupted(&self, _stage: &str, _attempt: u32, _error: &StageFailure) {}
    /// The rows a running stage has read so far in this attempt; called once per batch.
    fn stage_progress(&self, _stage: &str, _rows_in: u64) {}
    fn stage_finished(&self, _outcome: &StageOutcome) {}
}

/// Both observers see everything, the first first.
impl<A: RunObserver, B: RunObserver> RunObserver for (A, B) {
    fn run_started(&self, run_id: &str, dir: &Path) {
        self.0.run_started(run_id, dir);
        self.1.run_started(run_id, dir);
    }
    fn stage_started(&self, stage: &str, attempt: u32) {
        self.0.stage_started(stage, attempt);
        self.1.stage_started(stage, attempt);
    }
    fn stage_retrying(&self, stage: &str, attempt: u32, error: &StageFailure, wait: Duration) {
        self.0.stage_retrying(stage, attempt, error, wait);
        self.1.stage_retrying(stage, attempt, error, wait);
    }
    fn stage_interrupted(&self, stage: &str, attempt: u32, error: &StageFailure) {
        self.0.stage_interrupted(stage, attempt, error);
        self.1.stage_interrupted(stage, attempt, error);
    }
    fn stage_progress(&self, stage: &str, rows_in: u64) {
        self.0.stage_progress(stage, rows_in);
        self.1.stage_progress(stage, rows_in);
    }
    fn stage_finished(&self, outcome: &StageOutcome) {
        self.0.stage_finished(outcome);
        self.1.stage_finished(outcome);
    }
}

impl<T: RunObserver + ?Sized> RunObserver for &T {
    fn run_started(&self, run_id: &str, dir: &Path) {
        (**self).run_started(run_id, dir);
    }
    fn stage_started(&self, stage: &str, attempt: u32) {
        (**self).stage_started(stage, attempt);
    }
    fn stage_retrying(&self, stage: &str, attempt: u32, error: &StageFailure, wait: Duration) {
        (**self).stage_retrying(stage, attempt, error, wait);
    }
    fn stage_interrupted(&self, stage: &str, attempt: u32, error: &StageFailure) {
        (**self).stage_interrupted(stage, attempt, error);
    }
    fn stage_progress(&self, stage: &str, rows_in: u64) {
        (**self).stage_progress(stage, rows_in);
    }
    fn stage_finished(&self, outcome: &StageOutcome) {
        (**self).stage_finished(outcome);
    }
}

/// Runs `plan` and returns what happened. Stage failures are in the outcome, not errors.
pub fn run(plan: &Plan, options: &RunOptions, observer: &dyn RunObserver) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let names: Vec<String> = plan.stages.iter().map(|s| s.name.clone()).collect();
    let artifacts = Artifacts::new(&plan.paths.state, &options.run_id);

    let mut selected: BTreeSet<usize> = (0..plan.stages.len()).collect();
    if !options.only.is_empty() {
        selected.clear();
        for name in &options.only {
            selected.insert(plan.stage_index(name).ok_or_else(|| RunError::UnknownStage(name.clone()))?);
        }
    } else if let Some(previous) = options.previous.as_ref().filter(|p| p.resume) {
        let redo = (0..plan.stages.len()).filter(|&s| !previous.succeeded.contains(&names[s]));
        selected = plan.graph.downstream(redo);
    }
    if let Some(previous) = &options.previous {
        let earlier = Artifacts::new(&plan.paths.state, &previous.run_id);
        for stage in (0..plan.stages.len()).filter(|s| !selected.contains(s)) {
            artifacts.adopt(&earlier, &names[stage]).map_err(|source| RunError::Io {
                what: format!("reusing the outputs of stage \"{}\" from run {}", names[stage], previous.run_id),
                source,
            })?;
        }
    }

    let tasks: Vec<TaskSpec> = plan
        .stages
        .iter()
        .map(|s| TaskSpec {
            critical: s.critical,
            retries: if options.task.is_some_and(|t| t.attempt.is_some()) { 0 } else { s.retries },
            retry_backoff: s.retry_backoff,
            stream_from: if options.streaming { s.streams_from() } else { Vec::new() },
        })
        .collect();
    // Readers of the stages this run writes follow them until they are done.
    for &stage in &selected {
        artifacts.live().expect(&names[stage]);
    }
    let bridge = Bridge { plan, observer, artifacts: &artifacts, failed_upstream: Mutex::new(vec![None; names.len()]) };
    // A task's one attempt carries the orchestrator's number.
    let attempt_offset = options.task.and_then(|t| t.attempt).map_or(0, |n| n.saturating_sub(1));
    let run_attempt = |stage: usize, attempt: u32| {
        let attempt = attempt + attempt_offset;
        let planned = &plan.stages[stage];
        name_this_thread(&planned.name);
        let ctx = StageContext {
            stage: planned,
            names: &names,
            artifacts: &artifacts,
            deadline: Instant::now() + planned.timeout,
            follow: Arc::default(),
            run: RunInfo { run_id: options.run_id.clone(), logical_date: options.logical_date.clone(), attempt },
            native_stages: options.native_stages,
            observer,
            cancel: options.cancel.as_deref(),
        };
        let result = match &planned.kind {
            StageKind::Ingest { .. } | StageKind::Plugin { .. } => stages::run_data_stage(&ctx),
            StageKind::Warehouse { .. } | StageKind::Reports { .. } => sinks::run_sink_stage(&ctx, plan),
        };
        match result {
            Ok(report) => {
                artifacts.live().done(&planned.name);
                Ok(StageReport { input_wait_s: ctx.follow.waited().as_secs_f64(), ..report })
            }
            Err(error) => {
                artifacts.live().abort(&planned.name);
                Err(if ctx.follow.interrupted() {
                    AttemptError::Interrupted(error)
                } else {
                    AttemptError::Failed(error)
                })
            }
        }
    };
    // Every rejected row of the run, whatever else happens, so nothing is lost silently: written
    // beside the stages, each source's as soon as the stages feeding it are done.
    let (results, status, quarantine) = std::thread::scope(|scope| {
        let quarantine = scope.spawn(|| {
            if options.task.is_some() {
                return Ok(Vec::new());
            }
            name_this_thread("quarantine");
            sinks::write_quarantine(plan, &artifacts, &options.run_id)
        });
        // Also when the scheduler panics, so that the quarantine's writer stops waiting.
        let settle = SettleOnDrop(artifacts.live());
        let never = AtomicBool::new(false);
        let cancelled = options.cancel.as_deref().unwrap_or(&never);
        let (results, status) =
            scheduler::run_until(&plan.graph, &tasks, &selected, options.parallelism, &bridge, cancelled, run_attempt);
        drop(settle);
        let quarantine = quarantine
            .join()
            .unwrap_or_else(|_| Err(StageFailure::Internal("the quarantine's writer panicked".to_owned())));
        (results, status, quarantine)
    });
    let failed_upstream = bridge.failed_upstream.into_inner().unwrap_or_else(|e| e.into_inner());
    let stages = results
        .iter()
        .enumerate()
        .map(|(i, r)| outcome(plan, i, r, failed_upstream[i]))
        .map(|o| StageOutcome { attempts: o.attempts + if o.attempts > 0 { attempt_offset } else { 0 }, ..o })
        .collect();
    let (quarantine, quarantine_error) = match quarantine {
        Ok(totals) => (totals, None),
        Err(error) => {
            tracing::error!(%error, "cannot write the quarantine");
            (Vec::new(), Some(error.to_string()))
        }
    };
    let status = if quarantine_error.is_some() { RunStatus::Failed } else { status };
    // The invariants, on what the run produced (a failed run has nothing whole to check).
    let checking = Instant::now();
    let checks = if status == RunStatus::Failed || options.task.is_some() {
        Vec::new()
    } else {
        checks::evaluate(plan, &artifacts, &quarantine)
    };
    if !checks.is_empty() {
        tracing::debug!(seconds = checking.elapsed().as_secs_f64(), "checks evaluated");
    }
    for check in &checks {
        if check.passed {
            tracing::info!(check = %check.check, detail = %check.detail, "check held");
        } else {
            tracing::error!(check = %check.check, detail = %check.detail, "check violated: failing the run");
        }
    }
    let status = if checks.iter().any(|c| !c.passed) { RunStatus::Failed } else { status };
    Ok(RunOutcome {
        run_id: options.run_id.clone(),
        pipeline: plan.pipeline.clone(),
        logical_date: options.logical_date.clone(),
        status,
        duration_s: started.elapsed().as_secs_f64(),
        stages,
        quarantine,
        quarantine_error,
        checks,
    })
}

/// The directory of a run's files (artifacts, summary, log).
pub fn run_dir(plan: &Plan, run_id: &str) -> PathBuf {
    plan.paths.state.join("runs").join(run_id)
}

/// What happened to `stage`; `failed_upstream`: the stage whose failure kept it from running.
fn outcome(
    plan: &Plan,
    stage: usize,
    result: &TaskResult<StageReport, StageFailure>,
    failed_upstream: Option<usize>,
) -> StageOutcome {
    let planned = &plan.stages[stage];
    let plugin = match &planned.kind {
        StageKind::Plugin { plugin, .. } => Some(plugin),
        _ => None,
    };
    let (report, error) = match (&result.outcome, failed_upstream) {
        (Some(Ok(report)), _) => (Some(report.clone()), None),
        (Some(Err(error)), _) => (None, Some(error.clone())),
        (None, Some(upstream)) if result.status == StageStatus::UpstreamFailed => {
            (None, Some(StageFailure::UpstreamFailed { upstream: plan.stages[upstream].name.clone() }))
        }
        (None, _) => (None, None),
    };
    StageOutcome {
        name: planned.name.clone(),
        kind: planned.kind.label(),
        status: result.status,
        attempts: result.attempts,
        duration_s: result.started.zip(result.ended).map(|(s, e)| (e - s).as_secs_f64()),
        report,
        error_kind: error.as_ref().map(StageFailure::kind),
        error,
        plugin_sha256: plugin.map(|p| p.sha256().to_owned()),
        plugin_path: plugin
            .map(|p| std::path::absolute(p.path()).unwrap_or_else(|_| p.path().to_owned()).display().to_string()),
        plugin_name: plugin.map(|p| p.info().name.clone()),
        plugin_version: plugin.map(|p| p.info().version.clone()),
    }
}

struct Bridge<'a> {
    plan: &'a Plan,
    observer: &'a dyn RunObserver,
    artifacts: &'a Artifacts,
    /// Per stage that did not run, the failed stage that kept it from running.
    failed_upstream: Mutex<Vec<Option<usize>>>,
}

impl Observer<StageReport, StageFailure> for Bridge<'_> {
    fn started(&self, stage: usize, attempt: u32) {
        let name = &self.plan.stages[stage].name;
        tracing::info!(stage = %name, attempt, "stage started");
        self.observer.stage_started(name, attempt);
    }

    fn retrying(&self, stage: usize, attempt: u32, error: &StageFailure, wait: Duration) {
        let name = &self.plan.stages[stage].name;
        let kind = error.kind();
        tracing::warn!(stage = %name, attempt, %error, kind, wait_ms = wait.as_millis() as u64, "stage failed; retrying");
        self.observer.stage_retrying(name, attempt, error, wait);
    }

    fn interrupted(&self, stage: usize, attempt: u32, error: &StageFailure) {
        let name = &self.plan.stages[stage].name;
        tracing::info!(stage = %name, attempt, %error, "stage interrupted: it starts again when its upstream does");
        self.observer.stage_interrupted(name, attempt, error);
    }

    fn finished(&self, stage: usize, result: &TaskResult<StageReport, StageFailure>) {
        let outcome = outcome(self.plan, stage, result, None);
        if result.status == StageStatus::Failed {
            self.artifacts.live().fail(&outcome.name);
        }
        match &outcome.error {
            Some(error) => {
                let kind = error.kind();
                tracing::error!(stage = %outcome.name, attempts = outcome.attempts, %error, kind, "stage failed")
            }
            None => tracing::info!(
                stage = %outcome.name,
                rows_out = outcome.report.as_ref().map_or(0, |r| r.rows_out),
                seconds = outcome.duration_s.unwrap_or(0.0),
                input_wait_s = outcome.report.as_ref().map_or(0.0, |r| r.input_wait_s),
                guest_memory_mib = outcome.report.as_ref().and_then(|r| r.guest_memory_bytes).map(|b| b >> 20),
                "stage succeeded"
            ),
        }
        self.observer.stage_finished(&outcome);
    }

    fn upstream_failed(&self, stage: usize, upstream: usize) {
        let (name, up) = (&self.plan.stages[stage].name, &self.plan.stages[upstream].name);
        tracing::warn!(stage = %name, upstream = %up, "not run: upstream failed");
        self.artifacts.live().fail(name);
        self.failed_upstream.lock().unwrap_or_else(|e| e.into_inner())[stage] = Some(upstream);
        let result =
            TaskResult { status: StageStatus::UpstreamFailed, attempts: 0, started: None, ended: None, outcome: None };
        self.observer.stage_finished(&outcome(self.plan, stage, &result, Some(upstream)));
    }
}

/// Settles the run's artifacts when dropped: no stage runs any more.
struct SettleOnDrop<'a>(&'a Live);

impl Drop for SettleOnDrop<'_> {
    fn drop(&mut self) {
        self.0.settle();
    }
}

/// Names the calling thread after the stage it runs, for `top -H`, `ps -L` and profilers (Linux
/// keeps the first 15 bytes). A scheduler worker runs one stage after another, so it is renamed
/// for each.
fn name_this_thread(name: &str) {
    #[cfg(target_os = "linux")]
    {
        let mut bytes: Vec<u8> = name.bytes().filter(|&b| b != 0).take(15).collect();
        bytes.push(0);
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes, which `bytes`
        // is, and only changes the calling thread's name.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, bytes.as_ptr() as libc::c_ulong, 0, 0, 0);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = name;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn names_the_thread_after_its_stage_cut_to_what_linux_keeps() {
        std::thread::spawn(|| {
            super::name_this_thread("transform_orders");
            let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
            assert_eq!(comm.trim_end(), "transform_order");
        })
        .join()
        .unwrap();
    }
}
