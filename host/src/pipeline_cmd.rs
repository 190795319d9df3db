//! `host run`, `host validate`, `host graph` and `host runs`: the pipeline commands.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use host::config::{self, Plan};
use host::dag::{RunStatus, StageStatus};
use host::run::{self, PreviousRun, RunObserver, RunOptions, StageOutcome};
use host::runtime::Runtime;
use host::state::{self, CheckRecord, NewRun, RunLease, RunStore, StageRecord, Timestamp};
use sha2::{Digest, Sha256};

use crate::cli::{GraphFormat, PipelineArgs, RunArgs, RunsCommand, StateArgs};
use crate::console;
use crate::exit;

/// A configuration problem: exit code 3.
#[derive(Debug)]
pub struct InvalidConfig(pub String);

impl std::fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidConfig {}

/// The plan, the environment's name, and the sha256 of the merged configuration.
fn load_plan(args: &PipelineArgs, runtime: &Runtime) -> Result<(Plan, String, String)> {
    let env = args.env.clone().unwrap_or_else(|| "development".to_owned());
    let source = config::Source { path: &args.pipeline, env: &env, env_required: args.env.is_some(), set: &args.set };
    let loaded = config::load(&source).map_err(|e| InvalidConfig(e.to_string()))?;
    let plan = config::plan(&loaded.file, &args.pipeline, runtime).map_err(|e| InvalidConfig(e.to_string()))?;
    let merged = serde_norway::to_string(&loaded.merged).unwrap_or_default();
    let digest = Sha256::digest(merged.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    Ok((plan, env, digest))
}

pub fn validate(args: &PipelineArgs, runtime: &Runtime) -> Result<u8> {
    let (plan, env, _) = load_plan(args, runtime)?;
    println!("{} ({env}): {} stages, valid", plan.pipeline, plan.stages.len());
    for &stage in &plan.order {
        let s = &plan.stages[stage];
        println!("  {:<22} {}", s.name, s.kind.label());
    }
    Ok(exit::SUCCESS)
}

pub fn graph(args: &PipelineArgs, format: GraphFormat, runtime: &Runtime) -> Result<u8> {
    let (plan, _, _) = load_plan(args, runtime)?;
    let mut out = std::io::stdout().lock();
    match format {
        GraphFormat::Mermaid => writeln!(out, "flowchart LR")?,
        GraphFormat::Dot => writeln!(out, "digraph \"{}\" {{\n  rankdir=LR;", plan.pipeline)?,
    }
    for stage in &plan.stages {
        match format {
            GraphFormat::Mermaid => writeln!(out, "  {}[\"{}<br/>{}\"]", stage.name, stage.name, stage.kind.label())?,
            GraphFormat::Dot => {
                writeln!(out, "  \"{}\" [label=\"{}\\n{}\"];", stage.name, stage.name, stage.kind.label())?
            }
        }
    }
    for (i, stage) in plan.stages.iter().enumerate() {
        for &dep in plan.graph.deps(i) {
            let ports: Vec<&str> =
                stage.kind.upstreams().into_iter().filter(|u| u.stage == dep).map(|u| u.port.as_str()).collect();
            let label = ports.join(", ");
            let from = &plan.stages[dep].name;
            match format {
                GraphFormat::Mermaid if label.is_empty() => writeln!(out, "  {from} --> {}", stage.name)?,
                GraphFormat::Mermaid => writeln!(out, "  {from} -->|{label}| {}", stage.name)?,
                GraphFormat::Dot => writeln!(out, "  \"{from}\" -> \"{}\" [label=\"{label}\"];", stage.name)?,
            }
        }
    }
    if matches!(format, GraphFormat::Dot) {
        writeln!(out, "}}")?;
    }
    Ok(exit::SUCCESS)
}

pub fn run(args: &RunArgs, runtime: &Runtime) -> Result<u8> {
    let (plan, env, digest) = load_plan(&args.pipeline, runtime)?;
    if let Some(budget) = plan.memory_budget {
        runtime.memory_budget().set_limit(budget);
    }
    let logical_date = match &args.date {
        Some(date) => {
            if host::ingest::parse_date(date.as_bytes()).is_none() {
                return Err(InvalidConfig(format!("--date {date}: expected a real date as YYYY-MM-DD")).into());
            }
            date.clone()
        }
        None => Timestamp::now().rfc3339()[..10].to_owned(),
    };
    for name in &args.only {
        if plan.stage_index(name).is_none() {
            let known: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
            return Err(InvalidConfig(format!("--only {name}: no such stage (stages: {})", known.join(", "))).into());
        }
    }
    std::fs::create_dir_all(&plan.paths.state)
        .with_context(|| format!("cannot create state directory {}", plan.paths.state.display()))?;
    let store = RunStore::open(&plan.paths.state)?;

    for abandoned in store.reap_abandoned(&plan.paths.state, Timestamp::now())? {
        tracing::warn!(run_id = %abandoned, "run was left running by a host that stopped; marked failed");
    }
    let previous = previous_run(&store, &plan, args)?;
    let run_id = RunStore::new_run_id(Timestamp::now());
    // Held until this process ends: while it is, no other host takes this run for abandoned.
    let _lease = RunLease::take(&plan.paths.state, &run_id)
        .with_context(|| format!("cannot take the lease of run {run_id} in {}", plan.paths.state.display()))?;
    // Stages that stream from a running upstream wait for its rows without using a core, so by
    // default every ready stage runs; without streaming, as many as there are cores.
    let cores = || std::thread::available_parallelism().map_or(2, |n| n.get());
    let parallelism = args.parallelism.unwrap_or_else(|| if args.no_stream { cores() } else { plan.stages.len() });
    store.start_run(&NewRun {
        id: run_id.clone(),
        pipeline: plan.pipeline.clone(),
        env,
        logical_date: logical_date.clone(),
        started_at: Timestamp::now(),
        resumed_from: previous.as_ref().map(|p| p.run_id.clone()),
        config_digest: digest,
    })?;
    let log_path = run::run_dir(&plan, &run_id).join("run.log");
    if let Err(error) = console::open_run_log(&log_path) {
        tracing::warn!(path = %log_path.display(), %error, "cannot write the run's log file");
    }
    tracing::info!(run_id = %run_id, pipeline = %plan.pipeline, date = %logical_date, "run started");

    let recorder = Recorder { store: Mutex::new(store), run_id: run_id.clone(), started: Mutex::new(HashMap::new()) };
    let options = RunOptions {
        run_id: run_id.clone(),
        logical_date,
        parallelism,
        streaming: !args.no_stream,
        native_stages: args.native_stages,
        only: args.only.clone(),
        previous,
    };
    let live = console::LiveProgress::start(&run_id, plan.stages.len(), !args.no_progress);
    let outcome = run::run(&plan, &options, &(&recorder, &live));
    drop(live);
    let outcome = outcome?;

    let store = recorder.store.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Err(error) = store.record_checks(&run_id, &check_records(&outcome.checks)) {
        // Still finish the run: its status matters more than the record of its checks.
        tracing::error!(%error, "cannot record the checks in the run store");
    }
    store.finish_run(&run_id, outcome.status, Timestamp::now())?;
    let summary = store.write_summary(&plan.paths.state, &run_id)?;
    tracing::info!(run_id = %run_id, status = outcome.status.as_str(), seconds = outcome.duration_s, "run finished");
    console::close_run_log();

    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &outcome)?;
        writeln!(out)?;
    } else {
        print_summary(&outcome, &summary);
    }
    Ok(match outcome.status {
        RunStatus::Success => exit::SUCCESS,
        RunStatus::Partial => exit::PARTIAL,
        RunStatus::Failed | RunStatus::Running => exit::FAILED,
    })
}

/// The run whose outputs `--resume` or `--only` reuse.
fn previous_run(store: &RunStore, plan: &Plan, args: &RunArgs) -> Result<Option<PreviousRun>> {
    let detail = match (&args.resume, args.only.is_empty()) {
        (Some(id), _) => Some(store.get_run(id)?.ok_or_else(|| InvalidConfig(format!("--resume {id}: no such run")))?),
        (None, false) => store.latest_run(&plan.pipeline)?,
        (None, true) => None,
    };
    let Some(detail) = detail else {
        if !args.only.is_empty() {
            bail!(InvalidConfig("--only needs an earlier run's outputs, and this pipeline has no run yet".into()));
        }
        return Ok(None);
    };
    let succeeded: BTreeSet<String> = detail
        .stages
        .iter()
        .filter(|s| matches!(s.record.status, StageStatus::Success | StageStatus::Skipped))
        .map(|s| s.record.stage.clone())
        .collect();
    Ok(Some(PreviousRun { run_id: detail.run.id.clone(), succeeded, resume: args.resume.is_some() }))
}

/// The run's checks as the run store records them.
fn check_records(checks: &[run::CheckOutcome]) -> Vec<CheckRecord> {
    checks
        .iter()
        .map(|c| CheckRecord {
            name: c.check.clone(),
            passed: c.passed,
            detail: c.detail.clone(),
            figures: c.figures.clone(),
        })
        .collect()
}

/// Writes every stage change to the run store.
struct Recorder {
    store: Mutex<RunStore>,
    run_id: String,
    started: Mutex<HashMap<String, Timestamp>>,
}

impl RunObserver for Recorder {
    fn stage_started(&self, stage: &str, attempt: u32) {
        let now = Timestamp::now();
        self.started.lock().unwrap_or_else(|e| e.into_inner()).entry(stage.to_owned()).or_insert(now);
        let mut record = StageRecord::pending(stage);
        record.status = StageStatus::Running;
        record.attempts = attempt;
        record.started_at = Some(now);
        self.save(&record);
    }

    fn stage_finished(&self, outcome: &StageOutcome) {
        let mut record = StageRecord::pending(&outcome.name);
        record.status = outcome.status;
        record.attempts = outcome.attempts;
        record.started_at = self.started.lock().unwrap_or_else(|e| e.into_inner()).get(&outcome.name).copied();
        record.ended_at = record.started_at.map(|_| Timestamp::now());
        record.error = outcome.error.as_ref().map(ToString::to_string);
        record.error_kind = outcome.error_kind.map(str::to_owned);
        if let Some(report) = &outcome.report {
            record.rows_in = report.rows_in;
            record.rows_out = report.rows_out;
            record.rows_rejected = report.rows_rejected;
            record.bytes_in = report.bytes_in;
            record.bytes_out = report.bytes_out;
            record.plugin_sha256 = report.plugin_sha256.clone();
            record.metrics = report.metrics.clone();
        }
        self.save(&record);
    }
}

impl Recorder {
    fn save(&self, record: &StageRecord) {
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = store.upsert_stage(&self.run_id, record) {
            tracing::error!(stage = %record.stage, %error, "cannot record stage in the run store");
        }
    }
}

fn print_summary(outcome: &run::RunOutcome, summary: &std::path::Path) {
    println!("\nrun {} ({}): {:?} in {:.1}s", outcome.run_id, outcome.logical_date, outcome.status, outcome.duration_s);
    for stage in &outcome.stages {
        let time = stage.duration_s.map(|d| format!(" ({d:.2}s)")).unwrap_or_default();
        match stage.status {
            StageStatus::Success => {
                let report = stage.report.clone().unwrap_or_default();
                let rejected = if report.rows_rejected > 0 {
                    format!(", {} rejected", report.rows_rejected)
                } else {
                    String::new()
                };
                println!("  ✓ {}: {} records{rejected}{time}", stage.name, report.rows_out);
            }
            StageStatus::Failed => match &stage.error {
                Some(error) => println!("  ✗ {}: {error}{time}", stage.name),
                None => println!("  ✗ {}: failed{time}", stage.name),
            },
            StageStatus::Skipped => println!("  ↷ {}: reused from an earlier run", stage.name),
            StageStatus::UpstreamFailed => match &stage.error {
                Some(error) => println!("  - {}: {error}", stage.name),
                None => println!("  - {}: not run (upstream failed)", stage.name),
            },
            StageStatus::Pending | StageStatus::Running => println!("  ? {}: {}", stage.name, stage.status.as_str()),
        }
    }
    for check in &outcome.checks {
        let mark = if check.passed { "✓" } else { "✗" };
        println!("  {mark} check {}: {}", check.check, check.detail);
    }
    println!("summary: {}", summary.display());
}

pub fn runs(command: &RunsCommand) -> Result<u8> {
    let open = |args: &StateArgs| -> Result<RunStore> {
        let dir = state_dir(args)?;
        Ok(RunStore::open_read_only(&dir)?)
    };
    let mut out = std::io::stdout().lock();
    match command {
        RunsCommand::List { state, limit, json } => {
            let runs = open(state)?.list_runs(*limit)?;
            if *json {
                serde_json::to_writer_pretty(&mut out, &runs)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", state::render_runs_table(&runs))?;
            }
        }
        RunsCommand::Show { run_id, state, json } => {
            let detail = open(state)?.get_run(run_id)?.with_context(|| format!("run {run_id} not found"))?;
            if *json {
                serde_json::to_writer_pretty(&mut out, &detail)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", state::render_run_detail(&detail))?;
            }
        }
        RunsCommand::Stats { state, last, json } => {
            let stats = open(state)?.stats(*last)?;
            if *json {
                serde_json::to_writer_pretty(&mut out, &stats)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", state::render_stats(&stats))?;
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn state_dir(args: &StateArgs) -> Result<PathBuf> {
    if let Some(dir) = &args.state_dir {
        return Ok(dir.clone());
    }
    let Some(pipeline) = &args.pipeline else {
        // clap requires one of the two.
        bail!(InvalidConfig("give --pipeline FILE or --state-dir DIR".into()));
    };
    let env = args.env.clone().unwrap_or_else(|| "development".to_owned());
    let source = config::Source { path: pipeline, env: &env, env_required: args.env.is_some(), set: &[] };
    let loaded = config::load(&source).map_err(|e| InvalidConfig(e.to_string()))?;
    Ok(loaded.file.paths.state)
}
