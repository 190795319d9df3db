//! `host run`, `host validate`, `host graph` and `host runs`: the pipeline commands.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use host::config::{self, Plan};
use host::dag::{RunStatus, StageStatus};
use host::run::{self, RunObserver, RunRequest, retention};
use host::runtime::Runtime;
use host::state::{self, RunStore, Timestamp, Trigger};
use sha2::{Digest, Sha256};

use crate::cli::{GraphFormat, PipelineArgs, RunArgs, RunsCommand, StateArgs, TriggerArg};
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
pub(crate) fn load_plan(args: &PipelineArgs, runtime: &Runtime) -> Result<(Plan, String, String)> {
    let (plan, _, env, digest) = load_file_and_plan(args, runtime)?;
    Ok((plan, env, digest))
}

/// The pipeline file with its environment's overlay, `--set` and `--unset` applied, and the
/// environment's name.
pub(crate) fn load_config(args: &PipelineArgs) -> Result<(config::Loaded, String)> {
    let env = args.env.clone().unwrap_or_else(|| "development".to_owned());
    let source = config::Source {
        path: &args.pipeline,
        env: &env,
        env_required: args.env.is_some(),
        set: &args.set,
        unset: &args.unset,
    };
    let loaded = config::load(&source).map_err(|e| InvalidConfig(e.to_string()))?;
    Ok((loaded, env))
}

/// [`load_plan`], with the merged pipeline file.
fn load_file_and_plan(args: &PipelineArgs, runtime: &Runtime) -> Result<(Plan, config::PipelineFile, String, String)> {
    let (loaded, env) = load_config(args)?;
    let plan = config::plan(&loaded.file, &args.pipeline, runtime).map_err(|e| InvalidConfig(e.to_string()))?;
    let merged = serde_norway::to_string(&loaded.merged).unwrap_or_default();
    let digest = hex_sha256(merged.as_bytes());
    Ok((plan, loaded.file, env, digest))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `host export airflow`: the pipeline as an Airflow DAG file.
pub fn export_airflow(
    args: &PipelineArgs,
    out: &std::path::Path,
    host: Option<&std::path::Path>,
    max_active_runs: Option<u32>,
    runtime: &Runtime,
) -> Result<u8> {
    let (plan, file, env, _) = load_file_and_plan(args, runtime)?;
    if plan.stage_index("finish").is_some() {
        return Err(InvalidConfig(
            "a stage named `finish` would clash with the DAG's own `finish` task: rename it".to_owned(),
        )
        .into());
    }
    let pipeline_file = std::path::absolute(&args.pipeline)?;
    let bytes = std::fs::read(&pipeline_file).with_context(|| format!("cannot read {}", pipeline_file.display()))?;
    let host = match host {
        Some(path) => std::path::absolute(path)?,
        None => std::env::current_exe().context("cannot tell where this host binary is: give --host")?,
    };
    let workdir = std::env::current_dir().context("cannot read the working directory")?;
    // Airflow renders `bash_command` with Jinja: a path or value that looks like a template
    // would run as something else than what was validated here.
    let texts = [&pipeline_file, &host, &workdir].map(|p| p.display().to_string());
    for text in texts.iter().chain(&args.set).chain(&args.unset) {
        if ["{{", "{%", "{#"].iter().any(|open| text.contains(open)) {
            return Err(InvalidConfig(format!(
                "{text}: Airflow would read `{{{{`, `{{%` or `{{#` in it as a template"
            ))
            .into());
        }
    }
    let sha256 = hex_sha256(&bytes);
    let export = host::export::AirflowExport {
        pipeline_file: &pipeline_file,
        file_sha256: &sha256,
        env: &env,
        set: &args.set,
        unset: &args.unset,
        host: &host,
        workdir: &workdir,
        description: &file.description,
        schedule: file.schedule.as_ref(),
        max_active_runs,
        host_version: env!("CARGO_PKG_VERSION"),
    };
    let dag = host::export::airflow_dag(&plan, &export).map_err(|e| InvalidConfig(e.to_string()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(out, dag).with_context(|| format!("cannot write {}", out.display()))?;
    println!("{}: DAG `{}`, {} stage tasks and `finish`", out.display(), plan.pipeline, plan.stages.len());
    Ok(exit::SUCCESS)
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
    let trigger = match args.trigger {
        TriggerArg::Manual => Trigger::Manual,
        TriggerArg::Airflow => Trigger::Airflow,
    };
    if let Some(id) = args.run_id.as_deref().filter(|id| !state::is_run_id(id)) {
        return Err(InvalidConfig(format!(
            "--run-id {id:?}: a run id is 1 to 128 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
        ))
        .into());
    }
    if let (Some(run_id), true) = (&args.run_id, args.stage.is_some() || args.finish) {
        let task_run = run::task::TaskRun { run_id: run_id.clone(), env, config_digest: digest, logical_date, trigger };
        return run_task(args, &plan, &task_run);
    }
    let request = RunRequest {
        env,
        config_digest: digest,
        logical_date,
        parallelism: args.parallelism,
        streaming: !args.no_stream,
        native_stages: args.native_stages,
        only: args.only.clone(),
        resume: args.resume.clone(),
        trigger,
        cancel: None,
        run_id: args.run_id.clone(),
    };
    let live = console::LiveProgress::start(plan.stages.len(), !args.no_progress);
    let recorded = run::record(&plan, &request, &(&RunLog, &live));
    drop(live);
    console::close_run_log();
    let recorded = recorded.map_err(|error| -> anyhow::Error {
        if error.is_usage() { InvalidConfig(error.to_string()).into() } else { error.into() }
    })?;
    let outcome = &recorded.outcome;
    if args.json {
        print_json(outcome)?;
    } else {
        print_summary(outcome, &recorded.summary);
    }
    Ok(match outcome.status {
        RunStatus::Success => exit::SUCCESS,
        RunStatus::Partial => exit::PARTIAL,
        RunStatus::Failed | RunStatus::Running => exit::FAILED,
    })
}

/// `host run --run-id ID --stage S | --finish`: one task of a run executed as tasks. Exit codes
/// for a stage: 0 it succeeded; 1 a non-critical stage failed on its last attempt (the run will
/// be partial); 2 it failed (and the orchestrator may retry it). For `--finish`: the run's.
fn run_task(args: &RunArgs, plan: &Plan, task_run: &run::task::TaskRun) -> Result<u8> {
    let usage = |error: run::task::TaskError| -> anyhow::Error {
        if error.is_usage() { InvalidConfig(error.to_string()).into() } else { error.into() }
    };
    if let Some(stage) = &args.stage {
        let attempt = args.attempt.map(|number| run::task::Attempt { number, of: args.max_attempts });
        let done = run::task::run_stage(plan, task_run, stage, attempt, &RunLog);
        console::close_run_log();
        let done = done.map_err(usage)?;
        let outcome = &done.outcome;
        if args.json {
            print_json(outcome)?;
        } else {
            print_stage(outcome);
        }
        return Ok(match outcome.status {
            StageStatus::Success | StageStatus::Skipped => exit::SUCCESS,
            _ if !done.critical && done.last_attempt => exit::PARTIAL,
            _ => exit::FAILED,
        });
    }
    let finished = run::task::finish(plan, task_run).map_err(usage)?;
    if args.json {
        print_json(&finished.detail)?;
    } else {
        print!("{}", state::render_run_detail(&finished.detail));
        println!("summary: {}", finished.summary.display());
    }
    Ok(match finished.detail.run.status {
        RunStatus::Success | RunStatus::Partial => exit::SUCCESS,
        RunStatus::Failed | RunStatus::Running => exit::FAILED,
    })
}

/// `value` as pretty JSON on stdout, with a newline.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Sends the log lines to the run's `run.log` once the run has its folder.
pub(crate) struct RunLog;

impl RunObserver for RunLog {
    fn run_started(&self, _run_id: &str, dir: &std::path::Path) {
        let path = dir.join("run.log");
        if let Err(error) = console::open_run_log(&path) {
            tracing::warn!(path = %path.display(), %error, "cannot write the run's log file");
        }
    }
}

/// The most characters of a check that held shown in `host run`'s summary.
const CHECK_LINE: usize = 100;

/// `text` cut to `max` characters, with `…` at the end when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text.chars().count() > max => format!("{}…", &text[..end]),
        _ => text.to_owned(),
    }
}

/// One line for a stage that ended.
fn print_stage(stage: &run::StageOutcome) {
    let time = stage.duration_s.map(|d| format!(" ({d:.2}s)")).unwrap_or_default();
    match stage.status {
        StageStatus::Success => {
            let report = stage.report.clone().unwrap_or_default();
            let rejected =
                if report.rows_rejected > 0 { format!(", {} rejected", report.rows_rejected) } else { String::new() };
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

fn print_summary(outcome: &run::RunOutcome, summary: &std::path::Path) {
    println!("\nrun {} ({}): {:?} in {:.1}s", outcome.run_id, outcome.logical_date, outcome.status, outcome.duration_s);
    for stage in &outcome.stages {
        print_stage(stage);
    }
    // A check that held in short (its figures are in --json, summary.json and `host runs show`);
    // a violated one whole.
    for check in &outcome.checks {
        let line = format!("{}: {}", check.check, check.detail);
        if check.passed {
            println!("  ✓ check {}", cut(&line, CHECK_LINE));
        } else {
            println!("  ✗ check {line}");
        }
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
        RunsCommand::Prune { state, keep_runs, keep_days, dry_run, json } => {
            prune(state, *keep_runs, *keep_days, *dry_run, *json)?;
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
        RunsCommand::Stats { state, last, days, json } => {
            let store = open(state)?;
            let stats = match days {
                Some(days) => store.stats_for_days(*days, Timestamp::now())?,
                None => store.stats(*last)?,
            };
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

/// `host runs prune`: the policy is the flags', else the pipeline file's `retention:`.
fn prune(state: &StateArgs, keep_runs: Option<u64>, keep_days: Option<u64>, dry_run: bool, json: bool) -> Result<()> {
    let (dir, file) = state_and_file(state)?;
    let configured = file.as_ref().and_then(|f| f.retention.clone());
    let config = if keep_runs.is_some() || keep_days.is_some() {
        config::RetentionConfig { keep_runs, keep_days }
    } else if let Some(configured) = configured {
        configured
    } else {
        let whose = match &state.pipeline {
            Some(path) => format!("{} has no retention: block", path.display()),
            None => "--state-dir has no pipeline file to take a retention: block from".to_owned(),
        };
        bail!(InvalidConfig(format!("{whose}; give --keep-runs N and/or --keep-days D")));
    };
    let policy = retention::Retention::build(&config).map_err(|problems| InvalidConfig(problems.join("; ")))?;
    let pipeline = file.as_ref().map(|f| f.pipeline.as_str());
    let report = retention::prune(&dir, &policy, pipeline, None, dry_run)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    for run in &report.runs {
        writeln!(out, "{verb} {} ({} bytes)", run.path.display(), state::thousands(run.bytes))?;
    }
    let (runs, bytes) = (report.runs.len(), state::thousands(report.bytes));
    if dry_run {
        writeln!(out, "dry run: would prune the artifacts of {runs} run(s), freeing {bytes} bytes; nothing deleted")?;
    } else {
        writeln!(out, "pruned the artifacts of {runs} run(s): {bytes} bytes freed")?;
    }
    Ok(())
}

fn state_dir(args: &StateArgs) -> Result<PathBuf> {
    Ok(state_and_file(args)?.0)
}

/// The state directory, and the pipeline file when given by `--pipeline`.
fn state_and_file(args: &StateArgs) -> Result<(PathBuf, Option<config::PipelineFile>)> {
    if let Some(dir) = &args.state_dir {
        return Ok((dir.clone(), None));
    }
    let Some(pipeline) = &args.pipeline else {
        // clap requires one of the two.
        bail!(InvalidConfig("give --pipeline FILE or --state-dir DIR".into()));
    };
    let env = args.env.clone().unwrap_or_else(|| "development".to_owned());
    let source = config::Source { path: pipeline, env: &env, env_required: args.env.is_some(), set: &[], unset: &[] };
    let loaded = config::load(&source).map_err(|e| InvalidConfig(e.to_string()))?;
    Ok((loaded.file.paths.state.clone(), Some(loaded.file)))
}
