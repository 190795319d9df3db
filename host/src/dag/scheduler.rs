//! Runs the stage graph: independent stages in parallel on up to `parallelism` threads, retries
//! with exponential backoff, and the run rules: downstream of a failure is `upstream_failed` and
//! never runs; a failed critical stage fails the run, a failed non-critical one makes it partial.
//!
//! A stage may start while some of its dependencies are still running (`TaskSpec::stream_from`):
//! it reads their outputs as they are written. If such a dependency's attempt fails, the stage's
//! attempt is [`Interrupted`](AttemptError::Interrupted): it goes back to waiting, without using
//! one of its own attempts, and runs again on the dependency's next attempt (or never, if that
//! was the last).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{Graph, RunStatus, StageStatus};

/// Whether a stage's outputs are there for its dependents.
fn satisfies(status: StageStatus) -> bool {
    matches!(status, StageStatus::Success | StageStatus::Skipped)
}

/// How to run one stage.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub critical: bool,
    pub retries: u32,
    pub retry_backoff: Duration,
    /// Dependencies this stage may start beside, reading their outputs as they are written; the
    /// others must have finished first.
    pub stream_from: Vec<usize>,
}

/// Why a stage attempt did not succeed, with the caller's error `E`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError<E = String> {
    /// The stage failed: retried while it has retries left.
    Failed(E),
    /// A dependency it was streaming from failed under it: not the stage's fault, so the attempt
    /// does not count; the stage waits for the dependency again.
    Interrupted(E),
}

/// What happened to one stage.
#[derive(Debug, Clone)]
pub struct TaskResult<R, E = String> {
    pub status: StageStatus,
    pub attempts: u32,
    pub started: Option<Instant>,
    pub ended: Option<Instant>,
    /// The last attempt's report or error.
    pub outcome: Option<Result<R, E>>,
}

/// Told about every state change, from the worker threads.
pub trait Observer<R, E = String>: Sync {
    fn started(&self, stage: usize, attempt: u32);
    fn retrying(&self, stage: usize, attempt: u32, error: &E, wait: Duration);
    /// An attempt stopped because a dependency it streamed from failed; it will start again.
    fn interrupted(&self, stage: usize, attempt: u32, error: &E);
    fn finished(&self, stage: usize, result: &TaskResult<R, E>);
    /// A stage that will never run because `upstream` failed.
    fn upstream_failed(&self, stage: usize, upstream: usize);
}

struct State<R, E> {
    results: Vec<TaskResult<R, E>>,
    /// The attempt each stage runs next (interrupted attempts are run again under their number).
    next_attempt: Vec<u32>,
    running: usize,
}

impl<R, E> State<R, E> {
    fn ready(&self, graph: &Graph, tasks: &[TaskSpec], stage: usize) -> bool {
        self.results[stage].status == StageStatus::Pending
            && graph.deps(stage).iter().all(|&d| {
                satisfies(self.results[d].status)
                    || (self.results[d].status == StageStatus::Running && tasks[stage].stream_from.contains(&d))
            })
    }

    /// Marks everything downstream of `stage` that has not run `upstream_failed`.
    fn fail_downstream<O: Observer<R, E>>(&mut self, dependents: &[Vec<usize>], stage: usize, observer: &O) {
        let mut stack = dependents[stage].clone();
        while let Some(next) = stack.pop() {
            if self.results[next].status == StageStatus::Pending {
                self.results[next].status = StageStatus::UpstreamFailed;
                observer.upstream_failed(next, stage);
                stack.extend(&dependents[next]);
            }
        }
    }
}

/// Runs the stages in `selected` (the others are `Skipped`: their outputs already exist) and
/// returns every stage's result and the run's status.
pub fn run<R: Send, E: Send, O: Observer<R, E>>(
    graph: &Graph,
    tasks: &[TaskSpec],
    selected: &BTreeSet<usize>,
    parallelism: usize,
    observer: &O,
    execute: impl Fn(usize, u32) -> Result<R, AttemptError<E>> + Sync,
) -> (Vec<TaskResult<R, E>>, RunStatus) {
    run_until(graph, tasks, selected, parallelism, observer, &AtomicBool::new(false), execute)
}

/// [`run`], until `cancelled` is set: from then on no stage starts and no failed attempt is
/// retried; the stages running finish (or fail, if they watch `cancelled` too), those that
/// never started stay `Pending`, and the run is `Failed`.
pub fn run_until<R: Send, E: Send, O: Observer<R, E>>(
    graph: &Graph,
    tasks: &[TaskSpec],
    selected: &BTreeSet<usize>,
    parallelism: usize,
    observer: &O,
    cancelled: &AtomicBool,
    execute: impl Fn(usize, u32) -> Result<R, AttemptError<E>> + Sync,
) -> (Vec<TaskResult<R, E>>, RunStatus) {
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
    let state = Mutex::new(State { results, next_attempt: vec![1; n], running: 0 });
    let wake = Condvar::new();
    let dependents = graph.dependents();

    let worker =
        || {
            loop {
                let stage = {
                    let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
                    loop {
                        if cancelled.load(Ordering::SeqCst) {
                            break None;
                        }
                        let ready = (0..n).find(|&s| guard.ready(graph, tasks, s));
                        if let Some(stage) = ready {
                            guard.results[stage].status = StageStatus::Running;
                            guard.results[stage].started.get_or_insert_with(Instant::now);
                            guard.running += 1;
                            break Some((stage, guard.next_attempt[stage]));
                        }
                        let pending = guard.results.iter().any(|r| r.status == StageStatus::Pending);
                        if !pending || guard.running == 0 {
                            break None;
                        }
                        guard = wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                    }
                };
                let Some((stage, mut attempt)) = stage else {
                    wake.notify_all();
                    return;
                };

                let spec = &tasks[stage];
                let outcome = loop {
                    observer.started(stage, attempt);
                    match execute(stage, attempt) {
                        Ok(report) => break Some(Ok(report)),
                        Err(AttemptError::Interrupted(error)) => {
                            observer.interrupted(stage, attempt, &error);
                            break None;
                        }
                        Err(AttemptError::Failed(error))
                            if attempt <= spec.retries && !cancelled.load(Ordering::SeqCst) =>
                        {
                            let wait = spec.retry_backoff.saturating_mul(1 << (attempt - 1).min(16));
                            observer.retrying(stage, attempt, &error, wait);
                            std::thread::sleep(wait);
                            attempt += 1;
                        }
                        Err(AttemptError::Failed(error)) => break Some(Err(error)),
                    }
                };

                let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
                guard.running -= 1;
                let Some(outcome) = outcome else {
                    // Wait for the dependency's next attempt; if it has none, this stage never runs.
                    guard.next_attempt[stage] = attempt;
                    guard.results[stage].status = StageStatus::Pending;
                    if let Some(&failed) = graph.deps(stage).iter().find(|&&d| {
                        matches!(guard.results[d].status, StageStatus::Failed | StageStatus::UpstreamFailed)
                    }) {
                        guard.results[stage].status = StageStatus::UpstreamFailed;
                        guard.results[stage].started = None;
                        observer.upstream_failed(stage, failed);
                        guard.fail_downstream(&dependents, stage, observer);
                    }
                    drop(guard);
                    wake.notify_all();
                    continue;
                };
                let ok = outcome.is_ok();
                let result = &mut guard.results[stage];
                result.status = if ok { StageStatus::Success } else { StageStatus::Failed };
                result.attempts = attempt;
                result.ended = Some(Instant::now());
                result.outcome = Some(outcome);
                observer.finished(stage, result);
                if !ok {
                    // Everything downstream that has not run will never run.
                    guard.fail_downstream(&dependents, stage, observer);
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
    let status = if cancelled.load(Ordering::SeqCst) { RunStatus::Failed } else { run_status(&results, tasks) };
    (results, status)
}

fn run_status<R, E>(results: &[TaskResult<R, E>], tasks: &[TaskSpec]) -> RunStatus {
    RunStatus::of_stages(results.iter().zip(tasks).map(|(r, t)| (r.status, t.critical)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Quiet;
    impl Observer<()> for Quiet {
        fn started(&self, _: usize, _: u32) {}
        fn retrying(&self, _: usize, _: u32, _: &String, _: Duration) {}
        fn interrupted(&self, _: usize, _: u32, _: &String) {}
        fn finished(&self, _: usize, _: &TaskResult<()>) {}
        fn upstream_failed(&self, _: usize, _: usize) {}
    }

    fn spec(critical: bool, retries: u32) -> TaskSpec {
        TaskSpec { critical, retries, retry_backoff: Duration::from_millis(1), stream_from: Vec::new() }
    }

    fn failed(error: &str) -> Result<(), AttemptError> {
        Err(AttemptError::Failed(error.into()))
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
        let tasks = vec![spec(true, 0); 4];
        let (results, status) =
            run(&diamond(), &tasks, &all, 2, &Quiet, |s, _| if s == 0 { failed("boom") } else { Ok(()) });
        use StageStatus::*;
        assert_eq!(statuses(&results), vec![Failed, Success, UpstreamFailed, Success]);
        assert_eq!(status, RunStatus::Failed);
    }

    #[test]
    fn a_failed_non_critical_stage_makes_the_run_partial() {
        let all = (0..4).collect();
        let mut tasks = vec![spec(true, 0); 4];
        tasks[3].critical = false;
        let (results, status) =
            run(&diamond(), &tasks, &all, 1, &Quiet, |s, _| if s == 3 { failed("boom") } else { Ok(()) });
        assert_eq!(results[3].status, StageStatus::Failed);
        assert_eq!(status, RunStatus::Partial);
    }

    #[test]
    fn a_cancelled_run_starts_nothing_more_and_retries_nothing() {
        let all = (0..4).collect();
        let tasks = vec![spec(true, 5); 4];
        let cancelled = AtomicBool::new(false);
        let calls = AtomicU32::new(0);
        // One worker: `a` runs first, is cancelled during its attempt and fails; it is not
        // retried, and nothing else starts.
        let (results, status) = run_until(&diamond(), &tasks, &all, 1, &Quiet, &cancelled, |s, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            assert_eq!(s, 0, "only the first stage starts");
            cancelled.store(true, Ordering::SeqCst);
            failed("cancelled")
        });
        use StageStatus::*;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(statuses(&results), vec![Failed, Pending, UpstreamFailed, Pending]);
        assert_eq!(status, RunStatus::Failed);
    }

    #[test]
    fn retries_until_success() {
        let all = (0..4).collect();
        let tasks = vec![spec(true, 2); 4];
        let calls = AtomicU32::new(0);
        let (results, status) = run(&diamond(), &tasks, &all, 2, &Quiet, |s, attempt| {
            if s == 2 {
                calls.fetch_add(1, Ordering::SeqCst);
                if attempt < 2 {
                    return failed("flaky");
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
        let tasks = vec![spec(true, 0); 4];
        let (results, status) = run(&diamond(), &tasks, &selected, 2, &Quiet, |_, _| Ok(()));
        use StageStatus::*;
        assert_eq!(statuses(&results), vec![Skipped, Skipped, Success, Skipped]);
        assert_eq!(status, RunStatus::Success);
    }

    /// a -> b -> c, each streaming from the one before.
    fn chain(tasks: &mut [TaskSpec]) -> Graph {
        tasks[1].stream_from = vec![0];
        tasks[2].stream_from = vec![1];
        Graph::new(vec!["a".into(), "b".into(), "c".into()], vec![vec![], vec![0], vec![1]])
    }

    /// Waits (bounded) until `flag` is set by another stage.
    fn wait_for(flag: &AtomicBool) -> bool {
        let start = Instant::now();
        while !flag.load(Ordering::SeqCst) {
            if start.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn streaming_stages_run_beside_their_dependencies() {
        use std::sync::atomic::AtomicBool;
        let mut tasks = vec![spec(true, 0); 3];
        let graph = chain(&mut tasks);
        let started = [AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false)];
        let all = (0..3).collect();
        // Each stage finishes only once the next one has started: possible only side by side.
        let (results, status) = run(&graph, &tasks, &all, 3, &Quiet, |s, _| {
            started[s].store(true, Ordering::SeqCst);
            if s < 2 && !wait_for(&started[s + 1]) {
                return failed("the next stage never started");
            }
            Ok(())
        });
        assert_eq!(statuses(&results), vec![StageStatus::Success; 3]);
        assert_eq!(status, RunStatus::Success);

        // Without stream_from, the next stage waits for this one to finish.
        let tasks = vec![spec(true, 0); 3];
        let started = AtomicU32::new(0);
        let (results, _) = run(&graph, &tasks, &all, 3, &Quiet, |s, _| {
            assert_eq!(started.fetch_add(1, Ordering::SeqCst), s as u32, "stage {s} started out of order");
            Ok(())
        });
        assert_eq!(statuses(&results), vec![StageStatus::Success; 3]);
    }

    #[test]
    fn an_interrupted_stage_runs_again_on_its_dependency_s_next_attempt_without_losing_one() {
        use std::sync::atomic::AtomicBool;
        let mut tasks = vec![spec(true, 1); 3];
        let graph = chain(&mut tasks);
        let all = (0..3).collect();
        let b_running = AtomicBool::new(false);
        let a_failed = AtomicBool::new(false);
        let calls: [Mutex<Vec<u32>>; 3] = Default::default();
        let (results, status) = run(&graph, &tasks, &all, 3, &Quiet, |s, attempt| {
            calls[s].lock().unwrap().push(attempt);
            match (s, attempt) {
                // a's first attempt fails while b streams from it; b is interrupted.
                (0, 1) => {
                    assert!(wait_for(&b_running));
                    a_failed.store(true, Ordering::SeqCst);
                    failed("a broke")
                }
                (1, _) if calls[1].lock().unwrap().len() == 1 => {
                    b_running.store(true, Ordering::SeqCst);
                    assert!(wait_for(&a_failed));
                    Err(AttemptError::Interrupted("a failed under b".into()))
                }
                _ => Ok(()),
            }
        });
        assert_eq!(status, RunStatus::Success);
        assert_eq!(statuses(&results), vec![StageStatus::Success; 3]);
        assert_eq!(*calls[0].lock().unwrap(), [1, 2]);
        // b ran twice, both as attempt 1: the interruption did not use its one retry.
        assert_eq!(*calls[1].lock().unwrap(), [1, 1]);
        assert_eq!(results[1].attempts, 1);
    }

    #[test]
    fn a_stage_interrupted_by_a_dependency_that_then_fails_for_good_is_upstream_failed() {
        let mut tasks = vec![spec(true, 0); 3];
        let graph = chain(&mut tasks);
        let all = (0..3).collect();
        let b_running = AtomicBool::new(false);
        let (results, status) = run(&graph, &tasks, &all, 3, &Quiet, |s, _| match s {
            0 => {
                assert!(wait_for(&b_running));
                failed("a broke")
            }
            1 => {
                b_running.store(true, Ordering::SeqCst);
                // Interrupted at once, so possibly before a's failure is recorded: the scheduler
                // must then start b again and settle it once a has failed.
                Err(AttemptError::Interrupted("a failed under b".into()))
            }
            // c streams from b, which never finishes an attempt.
            _ => Err(AttemptError::Interrupted("b failed under c".into())),
        });
        use StageStatus::*;
        assert_eq!(statuses(&results), vec![Failed, UpstreamFailed, UpstreamFailed]);
        assert_eq!(status, RunStatus::Failed);
    }
}
