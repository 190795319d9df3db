//! What a stage instance may know about the run it works for: the run's id and logical date,
//! the stage's name, and which attempt this is.
//!
//! A stage's outputs must depend on its inputs and config only, so that a retry or a re-run
//! gives the same result; the run is for logging, or for stamping rows on purpose.
//! Natively (under [`crate::testing`]) the harness sets it; see
//! [`Harness::open_in_run`](crate::testing::Harness::open_in_run).

/// The run a stage instance works for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    /// The run's id; empty outside a run.
    pub run_id: String,
    /// The run's logical date, `YYYY-MM-DD`; empty outside a run.
    pub logical_date: String,
    /// The stage's name in the pipeline.
    pub stage: String,
    /// 1 for the first attempt at the stage in this run, 2 for the first retry; 0 outside a run.
    pub attempt: u32,
}

/// The run this instance works for, as the host tells it.
pub fn current_run() -> RunContext {
    imp::current_run()
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::RunContext;
    use crate::guest::wit::etl::stage::context as wit;

    pub(super) fn current_run() -> RunContext {
        let run = wit::current_run();
        RunContext { run_id: run.id, logical_date: run.logical_date, stage: run.stage, attempt: run.attempt }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::cell::RefCell;

    use super::RunContext;

    thread_local! {
        static CURRENT: RefCell<Option<RunContext>> = const { RefCell::new(None) };
    }

    pub(super) fn current_run() -> RunContext {
        CURRENT.with(|c| c.borrow().clone()).unwrap_or_else(|| RunContext {
            run_id: String::new(),
            logical_date: String::new(),
            stage: String::new(),
            attempt: 0,
        })
    }

    /// Sets what [`current_run`] returns on this thread (the native harness).
    pub(crate) fn set(run: Option<RunContext>) {
        CURRENT.with(|c| *c.borrow_mut() = run);
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use imp::set;

#[cfg(test)]
mod tests {
    use arrow_array::RecordBatch;

    use super::*;
    use crate::testing::Harness;
    use crate::{Emitter, Info, Metric, NoConfig, Result, Stage};

    /// Counts its attempt as a metric, read at `open`.
    struct Attempted(u32);

    impl Stage for Attempted {
        type Config = NoConfig;
        fn info() -> Info {
            Info::new("attempted", "0.1.0", "").input("in", "").output("out", "")
        }
        fn open(_: NoConfig) -> Result<Self> {
            let run = current_run();
            crate::log::info(&format!("{} {} {}", run.run_id, run.logical_date, run.stage));
            Ok(Attempted(run.attempt))
        }
        fn push(&mut self, _: &str, batch: RecordBatch, out: &mut Emitter) -> Result<()> {
            out.emit("out", batch);
            Ok(())
        }
        fn metrics(&self) -> Vec<Metric> {
            vec![Metric::new("attempt", i64::from(self.0))]
        }
    }

    #[test]
    fn the_harness_sets_the_run_a_stage_sees() {
        let run = RunContext {
            run_id: "r-1".into(),
            logical_date: "2024-06-30".into(),
            stage: "validate".into(),
            attempt: 3,
        };
        let done = Harness::<Attempted>::open_in_run("{}", run).unwrap().finish().unwrap();
        assert_eq!(done.metric("attempt"), Some(3));
        assert_eq!(done.logs[0].1, "r-1 2024-06-30 validate");

        let done = Harness::<Attempted>::open("{}").unwrap().finish().unwrap();
        assert_eq!(done.metric("attempt"), Some(0), "outside a run");
    }
}
