//! Following running stages: [`Live`] tracks where each stage of the run stands and how much of
//! each output a running attempt has committed, so readers of that output block until there is
//! more; [`Follow`] is what a stage reading its inputs learns from it (time spent waiting, and
//! whether an upstream attempt failed under it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a stage reading its inputs learns from following running upstreams.
#[derive(Debug, Default)]
pub struct Follow {
    waited_ns: AtomicU64,
    interrupted: AtomicBool,
}

impl Follow {
    /// How long its readers have waited for running upstreams to write more.
    pub fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed))
    }

    /// Whether an upstream attempt it was reading failed under it.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }
}

/// Where the outputs of the run's stages stand, for readers that follow them while they are
/// written. Stages not [`expect`](Live::expect)ed are finished: their files are read as they are.
#[derive(Debug, Default)]
pub struct Live {
    stages: Mutex<HashMap<String, LiveStage>>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct LiveStage {
    phase: Phase,
    /// Attempts begun; a reader stays with the attempt it started on.
    generation: u64,
    /// Per port, the bytes of whole messages on disk in this attempt.
    committed: HashMap<String, u64>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not started, or between attempts: readers wait.
    #[default]
    Waiting,
    Writing,
    /// The attempt succeeded: its files are whole.
    Done,
    /// It will not run again.
    Failed,
}

/// The attempt a reader followed failed (or the stage will not run again): the reader has to
/// stop, and its stage has been marked [`Follow::interrupted`].
#[derive(Debug)]
pub(super) struct Interrupted;

impl Live {
    /// Marks `stage` as one this run will write: readers wait for it.
    pub fn expect(&self, stage: &str) {
        self.lock().insert(stage.to_owned(), LiveStage::default());
    }

    /// An attempt of `stage` starts writing (its directory is empty).
    pub fn begin(&self, stage: &str) {
        self.update(stage, |s| {
            s.phase = Phase::Writing;
            s.generation += 1;
            s.committed.clear();
        });
    }

    /// `bytes` of `stage`'s `port` are on disk, ending on a message boundary.
    pub(super) fn commit(&self, stage: &str, port: &str, bytes: u64) {
        self.update(stage, |s| {
            s.committed.insert(port.to_owned(), bytes);
        });
    }

    /// The attempt succeeded.
    pub fn done(&self, stage: &str) {
        self.update(stage, |s| s.phase = Phase::Done);
    }

    /// The attempt failed; the stage may run again.
    pub fn abort(&self, stage: &str) {
        self.update(stage, |s| s.phase = Phase::Waiting);
    }

    /// The stage will not run again.
    pub fn fail(&self, stage: &str) {
        self.update(stage, |s| s.phase = Phase::Failed);
    }

    /// Waits until each of `stages` that this run writes has succeeded, or until no stage runs
    /// any more ([`settle`](Self::settle)): either way their files are then whole, and read as
    /// they are.
    pub fn wait_finished(&self, stages: &[&str]) {
        let mut live = self.lock();
        while stages.iter().any(|stage| live.get(*stage).is_some_and(|state| state.phase != Phase::Done)) {
            live = self.changed.wait(live).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// No stage runs any more: from now on every artifact is read as it is on disk (the
    /// quarantine reads what failed stages rejected).
    pub fn settle(&self) {
        self.lock().clear();
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, LiveStage>> {
        self.stages.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, stage: &str, change: impl FnOnce(&mut LiveStage)) {
        if let Some(state) = self.lock().get_mut(stage) {
            change(state);
            self.changed.notify_all();
        }
    }

    /// Waits until `port` of a running `stage` has its first batch on disk, and returns the
    /// attempt, or `None` when the stage is finished (its file is read as it is).
    pub(super) fn first_batch(
        &self,
        stage: &str,
        port: &str,
        follow: Option<&Arc<Follow>>,
    ) -> Result<Option<u64>, Interrupted> {
        let mut stages = self.lock();
        loop {
            let Some(state) = stages.get(stage) else { return Ok(None) };
            match state.phase {
                Phase::Done => return Ok(None),
                Phase::Failed => return Err(interrupted(follow)),
                Phase::Writing if state.committed.get(port).is_some_and(|&b| b > 0) => {
                    return Ok(Some(state.generation));
                }
                Phase::Writing | Phase::Waiting => stages = self.wait(stages, follow),
            }
        }
    }

    /// Waits until attempt `generation` of `stage` has more of `port` than `position` bytes, and
    /// returns how far it may be read (`None`: to the end of the file).
    pub(super) fn readable(
        &self,
        stage: &str,
        port: &str,
        generation: u64,
        position: u64,
        follow: Option<&Arc<Follow>>,
    ) -> Result<Option<u64>, Interrupted> {
        let mut stages = self.lock();
        loop {
            let Some(state) = stages.get(stage) else { return Ok(None) };
            if state.generation != generation || matches!(state.phase, Phase::Waiting | Phase::Failed) {
                return Err(interrupted(follow));
            }
            if state.phase == Phase::Done {
                return Ok(None);
            }
            let committed = state.committed.get(port).copied().unwrap_or(0);
            if committed > position {
                return Ok(Some(committed));
            }
            stages = self.wait(stages, follow);
        }
    }

    fn wait<'a>(
        &self,
        stages: MutexGuard<'a, HashMap<String, LiveStage>>,
        follow: Option<&Arc<Follow>>,
    ) -> MutexGuard<'a, HashMap<String, LiveStage>> {
        let start = Instant::now();
        let stages = self.changed.wait(stages).unwrap_or_else(|e| e.into_inner());
        if let Some(follow) = follow {
            follow.waited_ns.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        stages
    }
}

/// Marks the reader's stage interrupted, for the scheduler to run it again.
fn interrupted(follow: Option<&Arc<Follow>>) -> Interrupted {
    if let Some(follow) = follow {
        follow.interrupted.store(true, Ordering::Relaxed);
    }
    Interrupted
}
