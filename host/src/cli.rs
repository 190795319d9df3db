//! The command line: clap definitions only; `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::console::LogFormat;

/// Batch ETL pipelines whose stages are sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "host", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where compiled plugins are cached [default: $ETL_CACHE_DIR, else ~/.cache/etl-host].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile plugins on every load instead of caching them.
    #[arg(long, global = true, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// More log output (-v: debug, -vv: trace). `RUST_LOG` overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines as text or as one JSON object per line (stderr and the run's log file).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline.
    Run(RunArgs),
    /// Run a pipeline at the fire times of its `schedule:` block until stopped (SIGTERM/SIGINT:
    /// stop firing and let the running run finish; a second one cancels it).
    Schedule(ScheduleArgs),
    /// Check a pipeline file (and its plugins and their configs) without running it.
    Validate(PipelineArgs),
    /// Print the stage graph.
    Graph {
        #[command(flatten)]
        pipeline: PipelineArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Look at past runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Work with stage plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Serve a read-only dashboard, its JSON API and Prometheus /metrics over the run store.
    Serve(ServeArgs),
    /// Write the pipeline for another orchestrator.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Write deterministic e-commerce sample data (customers.csv, products.csv, orders.csv) with
    /// the spec's defects, and print what was generated as JSON.
    GenerateData {
        /// Number of orders (customers and products scale with it).
        #[arg(long, default_value_t = 100_000)]
        orders: u64,
        /// Seed: the same seed and size always give the same bytes.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Directory to write the three files into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// An Apache Airflow DAG file (Airflow 2.10 and 3.x): one task per stage, each running
    /// `host run --run-id ... --stage STAGE`, then `finish`.
    Airflow {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Where to write the DAG file, e.g. dags/ecommerce.py.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The host binary the tasks run [default: this one].
        #[arg(long, value_name = "PATH")]
        host: Option<PathBuf>,
        /// DAG runs (logical dates) at once, e.g. for a backfill across workers [default: the
        /// schedule's max_active_runs, 1].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_active_runs: Option<u32>,
    },
}

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginLang {
    Rust,
    Python,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create a plugin project of its own: a manifest, a working example stage (a decimal
    /// filter), native unit tests, and a README with the one command that builds it.
    New {
        /// The plugin's name: a lowercase letter, then lowercase letters, digits, `-` or `_`.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum, default_value_t = PluginLang::Rust)]
        lang: PluginLang,
        /// The project's directory, created or empty [default: ./NAME].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The checkout of etl-host whose SDK the project uses [default: the one this host was
        /// built from].
        #[arg(long, value_name = "CHECKOUT")]
        sdk: Option<PathBuf>,
    },
    /// Show what a plugin declares: ports, config help, digest, contract version, imports.
    Inspect {
        /// The plugin's `.wasm` file.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a plugin in the real sandbox on local files: its outputs, metrics and logs, and what
    /// it used of each limit.
    Test {
        /// The plugin's `.wasm` file.
        path: PathBuf,
        /// An input port and its file (repeatable): PORT=FILE.arrow (Arrow IPC, e.g. a run's
        /// artifact), PORT=FILE.parquet, or PORT=FILE.csv:NAME TYPE,NAME TYPE,... (types: text,
        /// int64, decimal(p,s), date).
        #[arg(long = "input", value_name = "PORT=FILE")]
        inputs: Vec<String>,
        /// The stage's `config:` block: inline JSON, or a JSON or YAML file [default: {}].
        #[arg(long, value_name = "FILE|JSON")]
        config: Option<String>,
        /// Sandbox limits, as a pipeline stage's `limits:` block: inline JSON, or a JSON or YAML
        /// file [default: the defaults].
        #[arg(long, value_name = "FILE|JSON")]
        limits: Option<String>,
        /// Write each output port to DIR/<port>.arrow instead of printing its first rows.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Rows printed per output port.
        #[arg(long, default_value_t = 20)]
        rows: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Which pipeline, in which environment, with which overrides.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// The pipeline file, e.g. config/ecommerce.yaml.
    #[arg(long, short = 'p', value_name = "FILE")]
    pub pipeline: PathBuf,
    /// Overlay environments/<ENV>.yaml next to the pipeline file [default: development].
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Override any value: --set paths.raw_data=/data/in, --set stages.validate_orders.retries=3.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove a key, after the --set overrides: --unset stages.transform_orders.sha256 (a pin),
    /// --unset stages.validate_orders.config.rules.
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Print the next fire times with their logical dates, and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: how many fire times.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "dry_run")]
    pub count: usize,
    /// With --dry-run: the fire times after this instant (RFC 3339, e.g. 2024-03-30T00:00:00Z)
    /// instead of after now.
    #[arg(long, value_name = "TIME", requires = "dry_run")]
    pub from: Option<String>,
    /// Stages running at once in each run [default: as `host run`].
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,
    /// Start each stage only once its inputs are complete (as `host run --no-stream`).
    #[arg(long)]
    pub no_stream: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The run's logical date (YYYY-MM-DD) [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,
    /// Stages running at once [default: all that are ready; with --no-stream, the number of cores].
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,
    /// Start each stage only once its inputs are complete, instead of beside the stages it reads
    /// from (slower; gives each stage's time on its own).
    #[arg(long)]
    pub no_stream: bool,
    /// Run the plugin stages natively, outside the sandbox, to measure what it costs (hosts
    /// built with `--features native-stages` only; see BENCHMARKS.md).
    #[arg(long)]
    #[cfg_attr(not(feature = "native-stages"), arg(hide = true))]
    pub native_stages: bool,
    /// Run only this stage (repeatable), reading its inputs from the latest run (or --resume's).
    #[arg(long, value_name = "STAGE")]
    pub only: Vec<String>,
    /// Re-run what failed or never ran in RUN_ID, reusing the outputs of what succeeded.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// The run's id (1-128 letters, digits, `.`, `_`, `-`) [default: a new one, from the time].
    /// With --stage or --finish: the run the task belongs to.
    #[arg(long, value_name = "RUN_ID")]
    pub run_id: Option<String>,
    /// Run this one stage of run --run-id as a task of its own (an Airflow task): it reads the
    /// outputs earlier tasks of the run wrote, and records the stage in the run's folder.
    #[arg(long, value_name = "STAGE", requires = "run_id", conflicts_with_all = ["only", "resume", "finish"])]
    pub stage: Option<String>,
    /// With --stage: the orchestrator's attempt number at the task. The host makes that one
    /// attempt and leaves retrying to the orchestrator [default: the stage's own retries].
    #[arg(long, value_name = "N", requires = "stage", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,
    /// With --attempt: the attempts the orchestrator makes in all (Airflow's `ti.max_tries + 1`,
    /// which grows when a task is cleared); a failed non-critical stage's last attempt exits 1
    /// [default: the stage's retries + 1].
    #[arg(long, value_name = "N", requires = "attempt", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: Option<u32>,
    /// Finish run --run-id after its stage tasks: the quarantine, the checks, the run's record
    /// in the run store, its alerts and retention.
    #[arg(long, requires = "run_id", conflicts_with_all = ["only", "resume"])]
    pub finish: bool,
    /// What started the run, recorded with it.
    #[arg(long, value_enum, default_value_t = TriggerArg::Manual)]
    pub trigger: TriggerArg,
    /// Print the run's outcome as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No live progress display (it is shown only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// `--trigger`: what started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TriggerArg {
    Manual,
    Airflow,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// The latest runs, newest first.
    List {
        /// The state directory [default: the pipeline's paths.state].
        #[command(flatten)]
        state: StateArgs,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Delete the artifacts of old runs as the pipeline's `retention:` says (or the flags);
    /// run records, summary.json and run.log stay.
    Prune {
        #[command(flatten)]
        state: StateArgs,
        /// Keep the artifacts of this many newest runs of each pipeline [default: the
        /// pipeline's retention.keep_runs].
        #[arg(long, value_name = "N")]
        keep_runs: Option<u64>,
        /// Keep the artifacts of runs started in the last D days [default: the pipeline's
        /// retention.keep_days].
        #[arg(long, value_name = "D")]
        keep_days: Option<u64>,
        /// Print what would be deleted and the bytes it would free; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// One run and its stages.
    Show {
        run_id: String,
        #[command(flatten)]
        state: StateArgs,
        #[arg(long)]
        json: bool,
    },
    /// Success rate, average and p95 duration, per-stage averages over the last N runs (or the
    /// runs of the last D days).
    Stats {
        #[command(flatten)]
        state: StateArgs,
        #[arg(long, default_value_t = 20, value_name = "N")]
        last: usize,
        /// Over the finished runs started in the last D days instead of the last N runs.
        #[arg(long, value_name = "D", conflicts_with = "last")]
        days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

/// Where the run store is: a pipeline file's `paths.state`, or a directory. One of the two is
/// required: the host has no pipeline of its own to fall back on.
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("store").required(true).args(["pipeline", "state_dir"])))]
pub struct StateArgs {
    #[arg(long, short = 'p', value_name = "FILE", conflicts_with = "state_dir")]
    pub pipeline: Option<PathBuf>,
    /// The environment overlay of `--pipeline` (its `paths.state` may differ).
    #[arg(long, value_name = "ENV", requires = "pipeline")]
    pub env: Option<String>,
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `host serve`: which run store, and where to listen.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("store").required(true).args(["pipeline", "state_dir"])))]
pub struct ServeArgs {
    /// The pipeline file: its run store, its quarantine and its stage graph.
    #[arg(long, short = 'p', value_name = "FILE", conflicts_with = "state_dir")]
    pub pipeline: Option<PathBuf>,
    /// The environment overlay of `--pipeline`.
    #[arg(long, value_name = "ENV", requires = "pipeline")]
    pub env: Option<String>,
    /// A state directory: its runs only (no quarantine, no graph).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The address to listen on (port 0: any free port). Anything but loopback exposes the
    /// dashboard, which has no authentication, to the network.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: String,
}
