//! Runs the stage graph: independent stages in parallel on up to `parallelism` threads, retries
//! with exponential backoff, and the run rules: downstream of a failure is `upstream_failed` and
//! never runs; a failed critical stage fails the run, a failed non-critical one makes it partial.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Graph;

pub use crate::state::{RunStatus, StageStatus};

/// Whether a stage's outputs are there for its dependents.
fn satisfies(status: StageStatus) -> bool {
    matches!(status, StageStatus::Success | StageStatus::Skipped)
}

/// How to run one stage.
#[derive(Debug, Clone, Copy)]
pub struct TaskSpec {
    pub critical: bool,
    pub retries: u32,
    pub retry_backoff: Duration,
}

/// What happened to one stage.
#[derive(Debug, Clone)]
pub struct TaskResult<R> {
    pub status: StageStatus,
    pub attempts: u32,
    pub started: Option<Instant>,
    pub ended: Option<Instant>,
    /// The last attempt's report or error.
    pub outcome: Option<Result<R, String>>,
}

/// Told about every state change, from the worker threads.
pub trait Observer<R>: Sync {
    fn started(&self, stage: usize, attempt: u32);
    fn retrying(&self, stage: usize, attempt: u32, error: &str, wait: Duration);
    fn finished(&self, stage: usize, result: &TaskResult<R>);
    /// A stage that will never run because `upstream` failed.
    fn upstream_failed(&self, stage: usize, upstream: usize);
}

struct State<R> {
    results: Vec<TaskResult<R>>,
    running: usize,
}

/// Runs the stages in `selected` (the others are `Skipped`: their outputs already exist) and
/// returns every stage's result and the run's status.
pub fn run<R: Send, O: Observer<R>>(
    graph: &Graph,
    tasks: &[TaskSpec],
    selected: &BTreeSet<usize>,
    parallelism: usize,
    observer: &O,
    execute: impl Fn(usize, u32) -> Result<R, String> + Sync,
) -> (Vec<TaskResult<R>>, RunStatus) {
    let n = graph.len();
    let results = (0..n)
        .map(|stage| TaskResult {
            status: if selected.contains(&stage) { StageStatus::Pending } else { StageStatus::Skipped },
            attempts: 0,
            started: None,
            ended: None,
            outcome: None,
        })
        .collect();
    let state = Mutex::new(State { results, running: 0 });
    let wake = Condvar::new();
    let dependents = graph.dependents();

    let worker = || {
        loop {
            let stage = {
                let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let ready = (0..n).find(|&s| {
                        guard.results[s].status == StageStatus::Pending
                            && graph.deps(s).iter().all(|&d| satisfies(guard.results[d].status))
                    });
                    if let Some(stage) = ready {
                        guard.results[stage].status = StageStatus::Running;
                        guard.results[stage].started = Some(Instant::now());
                        guard.running += 1;
                        break Some(stage);
                    }
                    let pending = guard.results.iter().any(|r| r.status == StageStatus::Pending);
                    if !pending || guard.running == 0 {
                        break None;
                    }
                    guard = wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
            };
            let Some(stage) = stage else {
                wake.notify_all();
                return;
            };

            let spec = tasks[stage];
            let mut attempt = 1;
            let outcome = loop {
                observer.started(stage, attempt);
                match execute(stage, attempt) {
                    Ok(report) => break Ok(report),
                    Err(error) if attempt <= spec.retries => {
                        let wait = spec.retry_backoff.saturating_mul(1 << (attempt - 1).min(16));
                        observer.retrying(stage, attempt, &error, wait);
                        std::thread::sleep(wait);
                        attempt += 1;
                    }
                    Err(error) => break Err(error),
                }
            };

            let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
            guard.running -= 1;
            let ok = outcome.is_ok();
            let result = &mut guard.results[stage];
            result.status = if ok { StageStatus::Success } else { StageStatus::Failed };
            result.attempts = attempt;
            result.ended = Some(Instant::now());
            result.outcome = Some(outcome);
            observer.finished(stage, result);
            if !ok {
                // Everything downstream that has not run will never run.
                let mut stack = dependents[stage].clone();
                while let Some(next) = stack.pop() {
                    if guard.results[next].status == StageStatus::Pending {
                        guard.results[next].status = StageStatus::UpstreamFailed;
                        observer.upstream_failed(next, stage);
                        stack.extend(&dependents[next]);
                    }
                }
            }
            drop(guard);
            wake.notify_all();
        }
    };

    std::thread::scope(|scope| {
        for _ in 0..parallelism.max(1).min(n.max(1)) {
            scope.spawn(worker);
        }
    });

    let results = state.into_inner().unwrap_or_else(|e| e.into_inner()).results;
    let status = run_status(&results, tasks);
    (results, status)
}

fn run_status<R>(results: &[TaskResult<R>], tasks: &[TaskSpec]) -> RunStatus {
    let failed = |critical: bool| {
        results.iter().zip(tasks).any(|(r, t)| r.status == StageStatus::Failed && t.critical == critical)
    };
    if failed(true) {
        RunStatus::Failed
    } else if failed(false) || results.iter().any(|r| r.status == StageStatus::UpstreamFailed) {
        RunStatus::Partial
    } else {
        RunStatus::Success
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Quiet;
    impl Observer<()> for Quiet {
        fn started(&self, _: usize, _: u32) {}
        fn retrying(&self, _: usize, _: u32, _: &str, _: Duration) {}
        fn finished(&self, _: usize, _: &TaskResult<()>) {}
        fn upstream_failed(&self, _: usize, _: usize) {}
    }

    fn spec(critical: bool, retries: u32) -> TaskSpec {
        TaskSpec { critical, retries, retry_backoff: Duration::from_millis(1) }
    }

    /// a, b independent; c depends on a; d depends on b.
    fn diamond() -> Graph {
        Graph::new(vec!["a".into(), "b".into(), "c".into(), "d".into()], vec![vec![], vec![], vec![0], vec![1]])
    }

    fn statuses(results: &[TaskResult<()>]) -> Vec<StageStatus> {
        results.iter().map(|r| r.status).collect()
    }

    #[test]
    fn a_failed_critical_stage_fails_the_run_and_spares_other_branches() {
        let all = (0..4).collect();
        let tasks = [spec(true, 0); 4];
        let (results, status) =
            run(&diamond(), &tasks, &all, 2, &Quiet, |s, _| if s == 0 { Err("boom".into()) } else { Ok(()) });
        use StageStatus::*;
        assert_eq!(statuses(&results), vec![Failed, Success, UpstreamFailed, Success]);
        assert_eq!(status, RunStatus::Failed);
    }

    #[test]
    fn a_failed_non_critical_stage_makes_the_run_partial() {
        let all = (0..4).collect();
        let mut tasks = [spec(true, 0); 4];
        tasks[3].critical = false;
        let (results, status) =
            run(&diamond(), &tasks, &all, 1, &Quiet, |s, _| if s == 3 { Err("boom".into()) } else { Ok(()) });
        assert_eq!(results[3].status, StageStatus::Failed);
        assert_eq!(status, RunStatus::Partial);
    }

    #[test]
    fn retries_until_success() {
        let all = (0..4).collect();
        let tasks = [spec(true, 2); 4];
        let calls = AtomicU32::new(0);
        let (results, status) = run(&diamond(), &tasks, &all, 2, &Quiet, |s, attempt| {
            if s == 2 {
                calls.fetch_add(1, Ordering::SeqCst);
                if attempt < 2 {
                    return Err("flaky".into());
                }
            }
            Ok(())
        });
        assert_eq!(status, RunStatus::Success);
        assert_eq!(results[2].attempts, 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn unselected_stages_are_skipped_and_satisfy_dependents() {
        let selected = BTreeSet::from([2]);
        let tasks = [spec(true, 0); 4];
        let (results, status) = run(&diamond(), &tasks, &selected, 2, &Quiet, |_, _| Ok(()));
        use StageStatus::*;
        assert_eq!(statuses(&results), vec![Skipped, Skipped, Success, Skipped]);
        assert_eq!(status, RunStatus::Success);
    }
}
