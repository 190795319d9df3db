//! Retention: deleting the artifacts (`<state>/runs/<id>/artifacts/`) of runs beyond the newest
//! `keep_runs` of their pipeline or older than `keep_days` days. The run's record, its
//! `summary.json` and `run.log` stay; the run store records when the artifacts went
//! (`runs.pruned_at_ms`) so that `--resume`/`--only` can refuse to reuse them. A run still
//! `running`, and the run being recorded, are never pruned.
//!
//! [`record`](super::record) prunes after every run of a pipeline with a `retention:` block;
//! `host runs prune` calls [`prune`] directly.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::RetentionConfig;
use crate::dag::RunStatus;
use crate::state::{RunAge, RunLease, RunStore, StateError, Timestamp};

const MS_PER_DAY: i64 = 86_400_000;

/// A checked `retention:` block: at least one of the two is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// Keep the artifacts of this many newest runs of each pipeline (at least 1).
    pub keep_runs: Option<u64>,
    /// Keep the artifacts of runs started less than this many days ago (at least 1).
    pub keep_days: Option<u64>,
}

impl Retention {
    /// Checks the `retention:` block.
    pub fn build(config: &RetentionConfig) -> Result<Retention, Vec<String>> {
        let mut problems = Vec::new();
        if config.keep_runs.is_none() && config.keep_days.is_none() {
            problems.push("retention: give keep_runs, keep_days or both".to_owned());
        }
        if config.keep_runs == Some(0) {
            problems.push("retention.keep_runs: must be at least 1".to_owned());
        }
        if config.keep_days == Some(0) {
            problems.push("retention.keep_days: must be at least 1".to_owned());
        }
        if problems.is_empty() {
            Ok(Retention { keep_runs: config.keep_runs, keep_days: config.keep_days })
        } else {
            Err(problems)
        }
    }

    /// The runs of `runs` (as [`RunStore::runs_for_retention`] lists them: by pipeline, newest
    /// first) whose artifacts go at `now`: of `pipeline` only when given, never `current`, a
    /// running run or one already pruned.
    pub fn select<'a>(
        &self,
        runs: &'a [RunAge],
        pipeline: Option<&str>,
        current: Option<&str>,
        now: Timestamp,
    ) -> Vec<&'a RunAge> {
        let mut selected = Vec::new();
        let mut rank = 0u64;
        for (i, run) in runs.iter().enumerate() {
            rank = if i > 0 && runs[i - 1].pipeline == run.pipeline { rank + 1 } else { 0 };
            if pipeline.is_some_and(|p| p != run.pipeline) {
                continue;
            }
            let too_many = self.keep_runs.is_some_and(|keep| rank >= keep);
            let too_old = self.keep_days.is_some_and(|days| {
                let age = now.unix_millis().saturating_sub(run.started_at.unix_millis());
                age > i64::try_from(days).unwrap_or(i64::MAX).saturating_mul(MS_PER_DAY)
            });
            let protected = run.pruned || run.status == RunStatus::Running || current == Some(run.id.as_str());
            if (too_many || too_old) && !protected {
                selected.push(run);
            }
        }
        selected
    }
}

/// One run whose artifacts were (or, on a dry run, would be) deleted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrunedRun {
    pub run_id: String,
    pub pipeline: String,
    pub started_at: Timestamp,
    /// The artifacts' folder.
    pub path: PathBuf,
    /// Bytes deleting it frees: files no other run shares (a resumed run hard-links the outputs
    /// it reuses).
    pub bytes: u64,
}

/// What [`prune`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub runs: Vec<PrunedRun>,
    /// The bytes of every run's artifacts together.
    pub bytes: u64,
}

/// A prune that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot delete the artifacts of run {run_id} ({}): {source}", path.display())]
    Delete { run_id: String, path: PathBuf, source: std::io::Error },
}

/// Deletes the artifacts `policy` selects in the run store of `state` (see
/// [`Retention::select`]), recording each run as pruned first (in the store and its
/// `summary.json`); with `dry_run`, only says what it would delete. Runs without an artifacts
/// folder are left as they are.
pub fn prune(
    state: &Path,
    policy: &Retention,
    pipeline: Option<&str>,
    current: Option<&str>,
    dry_run: bool,
) -> Result<PruneReport, PruneError> {
    let store = if dry_run { RunStore::open_read_only(state)? } else { RunStore::open(state)? };
    let runs = store.runs_for_retention()?;
    let now = Timestamp::now();
    let mut report = PruneReport { dry_run, runs: Vec::new(), bytes: 0 };
    for run in policy.select(&runs, pipeline, current, now) {
        let path = state.join("runs").join(&run.id).join("artifacts");
        if !path.is_dir() {
            continue;
        }
        // A run whose outputs a `--resume`/`--only` run may read holds a share of its lease:
        // such a run is kept, this time.
        let hold = if dry_run { None } else { Some(RunLease::take(state, &run.id)) };
        if let Some(Err(error)) = &hold {
            tracing::info!(run_id = %run.id, %error, "artifacts kept: the run is in use");
            continue;
        }
        let bytes = unshared_bytes(&path);
        if !dry_run {
            store.mark_pruned(&run.id, now, bytes)?;
            std::fs::remove_dir_all(&path).map_err(|source| PruneError::Delete {
                run_id: run.id.clone(),
                path: path.clone(),
                source,
            })?;
            // Its summary says so too.
            if let Err(error) = store.write_summary(state, &run.id) {
                tracing::warn!(run_id = %run.id, %error, "cannot rewrite the pruned run's summary");
            }
            tracing::info!(run_id = %run.id, bytes, "artifacts pruned");
        }
        report.bytes += bytes;
        report.runs.push(PrunedRun {
            run_id: run.id.clone(),
            pipeline: run.pipeline.clone(),
            started_at: run.started_at,
            path,
            bytes,
        });
    }
    Ok(report)
}

/// The size of the files under `dir` that have no other link (what deleting them frees).
fn unshared_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            total += unshared_bytes(&entry.path());
        } else if links(&meta) <= 1 {
            total += meta.len();
        }
    }
    total
}

#[cfg(unix)]
fn links(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(meta)
}

#[cfg(not(unix))]
fn links(_meta: &std::fs::Metadata) -> u64 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, pipeline: &str, status: RunStatus, started_ms: i64) -> RunAge {
        RunAge {
            id: id.into(),
            pipeline: pipeline.into(),
            status,
            started_at: Timestamp::from_unix_millis(started_ms),
            pruned: false,
        }
    }

    fn ids(runs: Vec<&RunAge>) -> Vec<&str> {
        runs.into_iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn keeps_the_newest_runs_of_each_pipeline_and_never_the_current_or_a_running_one() {
        let day = MS_PER_DAY;
        // As the store lists them: by pipeline, newest first.
        let runs = vec![
            run("a4", "a", RunStatus::Success, 40 * day),
            run("a3", "a", RunStatus::Running, 30 * day),
            run("a2", "a", RunStatus::Failed, 20 * day),
            run("a1", "a", RunStatus::Success, 10 * day),
            run("b2", "b", RunStatus::Success, 20 * day),
            run("b1", "b", RunStatus::Success, 10 * day),
        ];
        let now = Timestamp::from_unix_millis(41 * day);
        let keep_one = Retention { keep_runs: Some(1), keep_days: None };
        assert_eq!(ids(keep_one.select(&runs, None, None, now)), ["a2", "a1", "b1"]);
        assert_eq!(ids(keep_one.select(&runs, Some("b"), None, now)), ["b1"]);
        assert_eq!(ids(keep_one.select(&runs, Some("a"), Some("a2"), now)), ["a1"]);
        // Started more than 15 days before day 41: a2 (day 20), a1, b2, b1; a3 is younger.
        let fortnight = Retention { keep_runs: None, keep_days: Some(15) };
        assert_eq!(ids(fortnight.select(&runs, None, None, now)), ["a2", "a1", "b2", "b1"]);
        let both = Retention { keep_runs: Some(3), keep_days: Some(25) };
        assert_eq!(ids(both.select(&runs, None, None, now)), ["a1", "b1"]);
        let mut pruned = runs.clone();
        pruned[3].pruned = true;
        assert_eq!(ids(keep_one.select(&pruned, Some("a"), None, now)), ["a2"]);
    }

    #[test]
    fn a_block_needs_a_positive_limit() {
        let problems = Retention::build(&RetentionConfig::default()).unwrap_err();
        assert_eq!(problems, ["retention: give keep_runs, keep_days or both"]);
        let problems = Retention::build(&RetentionConfig { keep_runs: Some(0), keep_days: Some(0) }).unwrap_err();
        assert_eq!(problems, ["retention.keep_runs: must be at least 1", "retention.keep_days: must be at least 1"]);
        let ok = Retention::build(&RetentionConfig { keep_runs: Some(5), keep_days: None }).unwrap();
        assert_eq!(ok, Retention { keep_runs: Some(5), keep_days: None });
    }
}
