//! The stage graph and the scheduler that runs it.

mod graph;
pub mod scheduler;

pub use graph::Graph;
pub use scheduler::{Observer, RunStatus, StageStatus, TaskResult, TaskSpec};
