//! The command line: clap definitions only; `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with stage plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
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
pub enum PluginCommand {
    /// Show what a plugin declares: ports, config help, digest, contract version, imports.
    Inspect {
        /// The plugin's `.wasm` file.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}
