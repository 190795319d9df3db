//! The statuses of a run and of its stages, as the scheduler decides them and the run store
//! records them (by their lowercase names).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The status of a whole run. A run is `running` from its start until it ends with one of the
/// other three (the run store records them: [`crate::state::RunStore::finish_run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every stage succeeded.
    Success,
    /// A non-critical stage failed; the rest ran.
    Partial,
    /// A critical stage failed.
    Failed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [RunStatus::Running, RunStatus::Success, RunStatus::Partial, RunStatus::Failed];

    /// The lowercase name, as stored and printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }

    /// Whether the run has ended (every status but `running`).
    pub const fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Running)
    }

    /// The status of a run whose stages ended as `stages` says, each with whether it is
    /// critical: a failed critical stage fails it; a failed non-critical stage, or one that did
    /// not run because an upstream failed, makes it partial.
    pub fn of_stages(stages: impl IntoIterator<Item = (StageStatus, bool)> + Clone) -> RunStatus {
        let failed =
            |critical: bool| stages.clone().into_iter().any(|(s, c)| s == StageStatus::Failed && c == critical);
        if failed(true) {
            RunStatus::Failed
        } else if failed(false) || stages.into_iter().any(|(s, _)| s == StageStatus::UpstreamFailed) {
            RunStatus::Partial
        } else {
            RunStatus::Success
        }
    }
}

/// The status of one stage in a run:
/// `pending → running → success | failed | skipped | upstream_failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Pending,
    Running,
    Success,
    Failed,
    /// Not run by choice (for example, already done in the run this one resumes).
    Skipped,
    /// Not run because a stage it depends on failed.
    UpstreamFailed,
}

impl StageStatus {
    pub const ALL: [StageStatus; 6] = [
        StageStatus::Pending,
        StageStatus::Running,
        StageStatus::Success,
        StageStatus::Failed,
        StageStatus::Skipped,
        StageStatus::UpstreamFailed,
    ];

    /// The lowercase name, as stored and printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Running => "running",
            StageStatus::Success => "success",
            StageStatus::Failed => "failed",
            StageStatus::Skipped => "skipped",
            StageStatus::UpstreamFailed => "upstream_failed",
        }
    }
}

/// A status name that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} status {value:?} (expected one of: {expected})")]
pub struct ParseStatusError {
    kind: &'static str,
    value: String,
    expected: String,
}

macro_rules! status_text_impls {
    ($ty:ident, $kind:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ParseStatusError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| ParseStatusError {
                    kind: $kind,
                    value: s.to_owned(),
                    expected: $ty::ALL.map($ty::as_str).join(", "),
                })
            }
        }
    };
}

status_text_impls!(RunStatus, "run");
status_text_impls!(StageStatus, "stage");
