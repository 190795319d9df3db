//! The stage graph, the scheduler that runs it, and the statuses it gives runs and stages.

mod graph;
pub mod scheduler;
mod status;

pub use graph::Graph;
pub use scheduler::{Observer, TaskResult, TaskSpec};
pub use status::{ParseStatusError, RunStatus, StageStatus};
