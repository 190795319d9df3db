//! The loop of `host schedule`: wait for the next fire time, run the pipeline for it through
//! [`crate::run::record`] (tagged `schedule`, with the fire time's logical date), one run at a
//! time, catching up on missed fire times by the schedule's `catchup`, until told to stop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{FireTime, Schedule, missed};
use crate::config::Plan;
use crate::dag::RunStatus;
use crate::run::{self, RecordError, RunObserver, RunRequest};
use crate::state::{RunStore, StateError, Timestamp, Trigger};

/// The most missed fire times caught up at once (`catchup: all`); older ones are skipped.
pub const MAX_CATCHUP: usize = 1000;

/// How a scheduler is told to stop: the first [`signal`](Shutdown::signal) stops firing and lets
/// the running run finish; the second cancels the running run too (it is recorded failed).
#[derive(Debug, Default)]
pub struct Shutdown {
    signals: Mutex<u32>,
    wake: Condvar,
    cancel: Arc<AtomicBool>,
}

impl Shutdown {
    /// One more stop request (SIGTERM or SIGINT).
    pub fn signal(&self) {
        let mut signals = self.signals.lock().unwrap_or_else(|e| e.into_inner());
        *signals += 1;
        if *signals >= 2 {
            self.cancel.store(true, Ordering::SeqCst);
        }
        self.wake.notify_all();
    }

    /// Whether the scheduler has been told to stop.
    pub fn stopping(&self) -> bool {
        *self.signals.lock().unwrap_or_else(|e| e.into_inner()) > 0
    }

    /// Waits until `deadline` or a stop request, whichever comes first; true if told to stop.
    fn wait_until(&self, deadline: Timestamp) -> bool {
        let mut signals = self.signals.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *signals > 0 {
                return true;
            }
            let left = deadline.unix_millis() - Timestamp::now().unix_millis();
            if left <= 0 {
                return false;
            }
            let wait = Duration::from_millis(u64::try_from(left).unwrap_or(0));
            signals = self.wake.wait_timeout(signals, wait).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// What the scheduler does, for the command to print.
#[derive(Debug)]
pub enum Event<'a> {
    /// Missed fire times to run first, by `catchup`.
    CatchingUp { fires: &'a [FireTime] },
    /// Nothing to do until `next`.
    Waiting { next: &'a FireTime },
    /// A run starts for `fire`.
    Firing { fire: &'a FireTime },
    /// The run for `fire` ended.
    Finished { fire: &'a FireTime, run_id: &'a str, status: RunStatus },
    /// The run for `fire` could not be made (the scheduler goes on).
    Failed { fire: &'a FireTime, error: &'a RecordError },
    /// Told to stop; no run is going.
    Stopped,
}

/// Runs `plan` at the fire times of `schedule`, each as `request` with the fire time's logical
/// date and trigger `schedule`.
#[derive(Debug)]
pub struct Scheduler<'a> {
    pub plan: &'a Plan,
    pub schedule: &'a Schedule,
    /// Everything of each run but its logical date, trigger and cancellation.
    pub request: RunRequest,
    pub shutdown: &'a Shutdown,
}

impl Scheduler<'_> {
    /// Fires runs until told to stop. Returns once no run is going; a store that cannot be read
    /// at the start is an error, a run that cannot be made is an [`Event::Failed`].
    pub fn run(&self, observer: &dyn RunObserver, mut on_event: impl FnMut(Event<'_>)) -> Result<(), StateError> {
        std::fs::create_dir_all(&self.plan.paths.state)
            .map_err(|source| StateError::CreateDir { path: self.plan.paths.state.clone(), source })?;
        let last = RunStore::open(&self.plan.paths.state)?.last_started(&self.plan.pipeline, Trigger::Schedule)?;
        let mut queue: VecDeque<FireTime> = missed(self.schedule, last, Timestamp::now(), MAX_CATCHUP).into();
        if !queue.is_empty() {
            on_event(Event::CatchingUp { fires: queue.make_contiguous() });
        }
        // The latest fire time run or queued: later ones are the next to consider.
        let mut handled = queue.back().map_or_else(Timestamp::now, |fire| fire.at);
        loop {
            if self.shutdown.stopping() {
                break;
            }
            let fire = match queue.pop_front() {
                Some(fire) => fire,
                None => {
                    let Some(next) = self.schedule.fire_times_after(handled.max(Timestamp::now())).next() else {
                        break;
                    };
                    on_event(Event::Waiting { next: &next });
                    if self.shutdown.wait_until(next.at) {
                        break;
                    }
                    handled = next.at;
                    next
                }
            };
            on_event(Event::Firing { fire: &fire });
            let request = RunRequest {
                logical_date: fire.logical_date.clone(),
                trigger: Trigger::Schedule,
                cancel: Some(Arc::clone(&self.shutdown.cancel)),
                ..self.request.clone()
            };
            match run::record(self.plan, &request, observer) {
                Ok(recorded) => on_event(Event::Finished {
                    fire: &fire,
                    run_id: &recorded.outcome.run_id,
                    status: recorded.outcome.status,
                }),
                Err(error) => on_event(Event::Failed { fire: &fire, error: &error }),
            }
            // Fire times that passed while the run went: by `catchup`, as at the start.
            let overran = missed(self.schedule, Some(handled), Timestamp::now(), MAX_CATCHUP);
            if let Some(last) = overran.last() {
                handled = last.at;
                on_event(Event::CatchingUp { fires: &overran });
            }
            queue.extend(overran);
        }
        on_event(Event::Stopped);
        Ok(())
    }
}
