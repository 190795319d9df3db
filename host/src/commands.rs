//! What each subcommand does, in terms of the library.

use std::io::Write;

use anyhow::Result;
use host::runtime::{CONTRACT_PACKAGE, Limits, Plugin, Runtime, RuntimeOptions};
use serde::Serialize;

use crate::cli::{Cli, Command, ExportCommand, GlobalArgs, PluginCommand};
use crate::exit;

pub fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run(args) => crate::pipeline_cmd::run(&args, &runtime(&cli.global)?),
        Command::Schedule(args) if args.dry_run => crate::schedule_cmd::dry_run(&args),
        Command::Schedule(args) => crate::schedule_cmd::schedule(&args, &runtime(&cli.global)?),
        Command::Validate(args) => crate::pipeline_cmd::validate(&args, &runtime(&cli.global)?),
        Command::Graph { pipeline, format } => crate::pipeline_cmd::graph(&pipeline, format, &runtime(&cli.global)?),
        Command::Runs(command) => crate::pipeline_cmd::runs(&command),
        Command::Serve(args) => crate::serve_cmd::serve(&args),
        Command::Export(ExportCommand::Airflow { pipeline, out, host, max_active_runs }) => {
            crate::pipeline_cmd::export_airflow(
                &pipeline,
                &out,
                host.as_deref(),
                max_active_runs,
                &runtime(&cli.global)?,
            )
        }
        Command::Plugin(PluginCommand::Inspect { path, json }) => {
            let runtime = runtime(&cli.global)?;
            let plugin = runtime.load(&path, &Limits::default())?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &Inspection::of(&plugin))?;
                writeln!(out)?;
            } else {
                write_inspection(&mut out, &plugin)?;
            }
            Ok(exit::SUCCESS)
        }
        Command::Plugin(PluginCommand::New { name, lang, dir, sdk }) => {
            let args = crate::plugin_new::NewArgs { name: &name, lang, dir: dir.as_deref(), sdk: sdk.as_deref() };
            crate::plugin_new::new(&args)
        }
        Command::Plugin(PluginCommand::Test { path, inputs, config, limits, out, rows, json }) => {
            let args = crate::plugin_test::TestArgs {
                path: &path,
                inputs: &inputs,
                config: config.as_deref(),
                limits: limits.as_deref(),
                out: out.as_deref(),
                rows,
                json,
            };
            crate::plugin_test::test(&args, &runtime(&cli.global)?)
        }
        Command::GenerateData { orders, seed, out } => {
            let summary = sample_data::generate(&sample_data::SampleSpec { orders, seed }, &out)?;
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &summary)?;
            writeln!(stdout)?;
            Ok(exit::SUCCESS)
        }
    }
}

fn runtime(global: &GlobalArgs) -> Result<Runtime> {
    let mut options = RuntimeOptions::default();
    if global.no_cache {
        options.cache_dir = None;
    } else if let Some(dir) = &global.cache_dir {
        options.cache_dir = Some(dir.clone());
    }
    Ok(Runtime::new(options)?)
}

/// `host plugin inspect --json`: stable field names for scripts.
#[derive(Serialize)]
struct Inspection<'a> {
    path: String,
    sha256: &'a str,
    contract: String,
    #[serde(flatten)]
    info: &'a host::runtime::PluginInfo,
    imports: &'a [String],
    compiled_from: host::runtime::CompileSource,
    load_ms: f64,
}

impl<'a> Inspection<'a> {
    fn of(plugin: &'a Plugin) -> Self {
        Inspection {
            path: plugin.path().display().to_string(),
            sha256: plugin.sha256(),
            contract: format!("{CONTRACT_PACKAGE}@{}", plugin.contract()),
            info: plugin.info(),
            imports: plugin.imports(),
            compiled_from: plugin.compile_source(),
            load_ms: plugin.load_time().as_secs_f64() * 1e3,
        }
    }
}

fn write_inspection(out: &mut impl Write, plugin: &Plugin) -> std::io::Result<()> {
    let info = plugin.info();
    writeln!(out, "{} {}", info.name, info.version)?;
    if !info.description.is_empty() {
        writeln!(out, "{}", info.description)?;
    }
    writeln!(out)?;
    writeln!(out, "  file      {}", plugin.path().display())?;
    writeln!(out, "  sha256    {}", plugin.sha256())?;
    writeln!(out, "  contract  {CONTRACT_PACKAGE}@{}", plugin.contract())?;
    let source = match plugin.compile_source() {
        host::runtime::CompileSource::Cache => "from the compile cache",
        host::runtime::CompileSource::Compiled => "compiled",
    };
    writeln!(out, "  loaded    {source} in {:.1} ms", plugin.load_time().as_secs_f64() * 1e3)?;
    for (title, ports) in [("inputs", &info.inputs), ("outputs", &info.outputs)] {
        writeln!(out, "\n{title}")?;
        if ports.is_empty() {
            writeln!(out, "  (none)")?;
        }
        let width = ports.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for port in ports {
            writeln!(out, "  {:width$}  {}", port.name, port.description)?;
        }
    }
    writeln!(out, "\nconfig")?;
    let help = if info.config_help.is_empty() { "(no help given)" } else { &info.config_help };
    for line in help.lines() {
        writeln!(out, "  {line}")?;
    }
    writeln!(out, "\nimports")?;
    for import in plugin.imports() {
        writeln!(out, "  {import}")?;
    }
    Ok(())
}
