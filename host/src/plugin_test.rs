//! `host plugin test`: one plugin in the real sandbox on local files, with what it emitted, its
//! metrics and logs, and what it used of each limit, the way a pipeline stage would run it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use arrow_array::RecordBatch;
use host::ingest::{Column, ColumnType, CsvSchema, IngestOptions, IngestReader};
use host::runtime::{Limits, Output, Runtime, StageError};
use serde::Serialize;

use crate::exit;
use crate::pipeline_cmd::InvalidConfig;

/// What `host plugin test` was asked.
pub struct TestArgs<'a> {
    pub path: &'a Path,
    /// `PORT=FILE` (`.arrow`, `.parquet`) or `PORT=FILE.csv:NAME TYPE,NAME TYPE,...`.
    pub inputs: &'a [String],
    /// A JSON or YAML file, or inline JSON.
    pub config: Option<&'a str>,
    /// Limits as a pipeline's `limits:` block: a JSON or YAML file, or inline JSON.
    pub limits: Option<&'a str>,
    pub out: Option<&'a Path>,
    pub rows: usize,
    pub json: bool,
}

/// One input port's batches, read from its file.
struct Input {
    port: String,
    file: PathBuf,
    batches: Vec<RecordBatch>,
    /// CSV records that did not parse.
    rejected: u64,
}

/// One guest call, as measured from the host.
#[derive(Debug, Serialize)]
struct Call {
    call: String,
    rows_in: u64,
    rows_out: u64,
    bytes_out: u64,
    ms: f64,
}

/// What the plugin used of each limit.
#[derive(Debug, Serialize)]
struct Usage {
    peak_memory_bytes: u64,
    memory_limit_bytes: u64,
    longest_call_ms: f64,
    call_timeout_ms: f64,
    most_bytes_one_call: u64,
    output_bytes_limit: u64,
    bytes_out_total: u64,
    total_output_bytes_limit: u64,
    most_rows_one_call: u64,
    output_rows_limit: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    plugin: String,
    version: String,
    sha256: String,
    calls: Vec<Call>,
    outputs: Vec<(String, u64)>,
    metrics: Vec<(String, i64)>,
    usage: Usage,
    error: Option<String>,
    error_kind: Option<&'static str>,
}

/// A config or limits argument: inline JSON, or a JSON or YAML file, as JSON text.
fn json_arg(what: &str, text: &str) -> Result<String> {
    let value: serde_json::Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| InvalidConfig(format!("--{what}: not a JSON object: {e}")))?
    } else {
        let bytes = std::fs::read(text).map_err(|e| InvalidConfig(format!("--{what} {text}: {e}")))?;
        serde_norway::from_slice(&bytes).map_err(|e| InvalidConfig(format!("--{what} {text}: {e}")))?
    };
    Ok(value.to_string())
}

fn read_input(spec: &str) -> Result<Input> {
    let Some((port, rest)) = spec.split_once('=') else {
        bail!(InvalidConfig(format!("--input {spec:?}: expected PORT=FILE")));
    };
    let (file, columns) = match rest.split_once(".csv:") {
        Some((stem, columns)) => (PathBuf::from(format!("{stem}.csv")), Some(columns)),
        None => (PathBuf::from(rest), None),
    };
    let mut input = Input { port: port.to_owned(), file: file.clone(), batches: Vec::new(), rejected: 0 };
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    match (extension, columns) {
        ("csv", Some(columns)) => {
            let mut declared = Vec::new();
            for column in split_columns(columns) {
                let (name, ty) = column.trim().split_once(' ').ok_or_else(|| {
                    InvalidConfig(format!(
                        "--input {port}: column {column:?}: expected NAME TYPE (e.g. quantity int64)"
                    ))
                })?;
                let ty: ColumnType =
                    ty.trim().parse().map_err(|e| InvalidConfig(format!("--input {port}: {name}: {e}")))?;
                declared.push(Column::new(name.trim(), ty));
            }
            let schema = CsvSchema::new(declared);
            schema.check().map_err(|e| InvalidConfig(format!("--input {port}: {e}")))?;
            let reader = IngestReader::open(&file, &schema, &IngestOptions::new(port))?;
            for batch in reader {
                let batch = batch?;
                input.rejected += batch.rejected.num_rows() as u64;
                input.batches.push(batch.valid);
            }
        }
        ("csv", None) => bail!(InvalidConfig(format!(
            "--input {port}={}: give the CSV's columns and types: {port}={}:NAME TYPE,NAME TYPE,... \
             (types: text, int64, decimal(p,s), date)",
            file.display(),
            file.display()
        ))),
        ("parquet", _) => {
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                File::open(&file).with_context(|| format!("cannot open {}", file.display()))?,
            )
            .with_context(|| format!("{} is not a Parquet file", file.display()))?
            .build()?;
            for batch in reader {
                input.batches.push(batch.with_context(|| format!("cannot read {}", file.display()))?);
            }
        }
        ("arrow" | "ipc" | "feather", _) => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            // An IPC file (with its footer), else a stream (as the run's artifacts are).
            match arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(&bytes), None) {
                Ok(reader) => {
                    for batch in reader {
                        input.batches.push(batch?);
                    }
                }
                Err(_) => {
                    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(&bytes), None)
                        .with_context(|| format!("{} is neither an Arrow IPC file nor a stream", file.display()))?;
                    for batch in reader {
                        input.batches.push(batch?);
                    }
                }
            }
        }
        _ => bail!(InvalidConfig(format!(
            "--input {port}={}: a .csv (with its columns), .parquet or .arrow file",
            file.display()
        ))),
    }
    Ok(input)
}

/// `NAME TYPE,NAME TYPE,...` split at the commas outside parentheses (`decimal(10,2)` has one).
fn split_columns(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `bytes` in B, KiB, MiB or GiB.
fn kib(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut value, mut unit) = (bytes as f64, 0);
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", units[unit]) }
}

pub fn test(args: &TestArgs<'_>, runtime: &Runtime) -> Result<u8> {
    let limits: Limits = match args.limits {
        Some(text) => {
            serde_json::from_str(&json_arg("limits", text)?).map_err(|e| InvalidConfig(format!("--limits: {e}")))?
        }
        None => Limits::default(),
    };
    if let Some(problem) = limits.problems().first() {
        bail!(InvalidConfig(format!("--limits: {problem}")));
    }
    let config = match args.config {
        Some(text) => json_arg("config", text)?,
        None => "{}".to_owned(),
    };
    let plugin = runtime.load(args.path, &limits)?;
    let mut inputs = args.inputs.iter().map(|spec| read_input(spec)).collect::<Result<Vec<_>>>()?;

    let started = Instant::now();
    let mut instance = match plugin.open("test", &config, &limits) {
        Ok(instance) => instance,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(if error.kind.label() == "invalid_config" { exit::USAGE } else { exit::FAILED });
        }
    };
    let mut calls =
        vec![Call { call: "open".into(), rows_in: 0, rows_out: 0, bytes_out: 0, ms: ms(started.elapsed()) }];
    // The plugin's input order; an input it does not declare is refused with the ports it has.
    let order: Vec<String> = instance.ports().inputs.iter().map(|p| p.name.clone()).collect();
    if let Some(extra) = inputs.iter().find(|i| !order.contains(&i.port)) {
        bail!(InvalidConfig(format!(
            "--input {}: the plugin has no such input (inputs: {})",
            extra.port,
            order.join(", ")
        )));
    }
    inputs.sort_by_key(|i| order.iter().position(|p| *p == i.port));

    let mut outputs: Vec<(String, Vec<RecordBatch>)> =
        instance.ports().outputs.iter().map(|p| (p.name.clone(), Vec::new())).collect();
    let mut failure: Option<StageError> = None;
    let collect = |emitted: Vec<Output>, outputs: &mut Vec<(String, Vec<RecordBatch>)>| -> u64 {
        let mut rows = 0;
        for output in emitted {
            rows += output.rows() as u64;
            if let Some((_, batches)) = outputs.iter_mut().find(|(port, _)| *port == output.port) {
                batches.extend(output.batches);
            }
        }
        rows
    };
    'inputs: for input in &inputs {
        for (index, batch) in input.batches.iter().enumerate() {
            let before = instance.stats().bytes_out;
            let started = Instant::now();
            match instance.push(&input.port, batch) {
                Ok(emitted) => {
                    let rows_out = collect(emitted, &mut outputs);
                    calls.push(Call {
                        call: format!("push {} #{}", input.port, index + 1),
                        rows_in: batch.num_rows() as u64,
                        rows_out,
                        bytes_out: instance.stats().bytes_out - before,
                        ms: ms(started.elapsed()),
                    });
                }
                Err(error) => {
                    failure = Some(error);
                    break 'inputs;
                }
            }
        }
    }
    if failure.is_none() {
        let before = instance.stats().bytes_out;
        let started = Instant::now();
        match instance.finish() {
            Ok(emitted) => {
                let rows_out = collect(emitted, &mut outputs);
                let bytes_out = instance.stats().bytes_out - before;
                calls.push(Call { call: "finish".into(), rows_in: 0, rows_out, bytes_out, ms: ms(started.elapsed()) });
            }
            Err(error) => failure = Some(error),
        }
    }
    let metrics = if failure.is_none() { instance.metrics().unwrap_or_default() } else { Vec::new() };
    let stats = instance.stats();
    let usage = Usage {
        peak_memory_bytes: stats.memory_bytes,
        memory_limit_bytes: limits.memory_bytes,
        longest_call_ms: calls.iter().map(|c| c.ms).fold(0.0, f64::max),
        call_timeout_ms: ms(limits.call_timeout),
        most_bytes_one_call: calls.iter().map(|c| c.bytes_out).max().unwrap_or(0),
        output_bytes_limit: limits.output_bytes,
        bytes_out_total: stats.bytes_out,
        total_output_bytes_limit: limits.total_output_bytes,
        most_rows_one_call: calls.iter().map(|c| c.rows_out).max().unwrap_or(0),
        output_rows_limit: limits.output_rows,
    };

    if let Some(dir) = args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (port, batches) in &outputs {
            let Some(first) = batches.first() else { continue };
            let path = dir.join(format!("{port}.arrow"));
            let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &first.schema())?;
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }

    let info = plugin.info();
    let report = Report {
        plugin: info.name.clone(),
        version: info.version.clone(),
        sha256: plugin.sha256().to_owned(),
        calls,
        outputs: outputs.iter().map(|(port, b)| (port.clone(), b.iter().map(|b| b.num_rows() as u64).sum())).collect(),
        metrics,
        usage,
        error_kind: failure.as_ref().map(|e| e.kind.label()),
        error: failure.as_ref().map(ToString::to_string),
    };
    if args.json {
        crate::pipeline_cmd::print_json(&report)?;
    } else {
        write_report(&mut std::io::stdout().lock(), &report, &inputs, &outputs, args)?;
    }
    Ok(if failure.is_some() { exit::FAILED } else { exit::SUCCESS })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn write_report(
    out: &mut impl Write,
    report: &Report,
    inputs: &[Input],
    outputs: &[(String, Vec<RecordBatch>)],
    args: &TestArgs<'_>,
) -> Result<()> {
    writeln!(out, "{} {} (sha256 {}), in the sandbox", report.plugin, report.version, report.sha256)?;
    for input in inputs {
        let rows: usize = input.batches.iter().map(RecordBatch::num_rows).sum();
        let rejected =
            if input.rejected > 0 { format!("; {} CSV records did not parse", input.rejected) } else { String::new() };
        writeln!(
            out,
            "input {}: {}, {rows} rows in {} batches{rejected}",
            input.port,
            input.file.display(),
            input.batches.len()
        )?;
    }
    writeln!(out, "\n{:<24} {:>10} {:>10} {:>12} {:>10}", "CALL", "ROWS IN", "ROWS OUT", "BYTES OUT", "TIME")?;
    for call in &report.calls {
        writeln!(
            out,
            "{:<24} {:>10} {:>10} {:>12} {:>8.1}ms",
            call.call,
            call.rows_in,
            call.rows_out,
            kib(call.bytes_out),
            call.ms
        )?;
    }
    for (port, batches) in outputs {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        writeln!(out, "\noutput {port}: {rows} rows")?;
        if args.out.is_none() && rows > 0 {
            let shown = take_rows(batches, args.rows);
            // The values are the plugin's: control characters are escaped before the terminal.
            for line in arrow_cast::pretty::pretty_format_batches(&shown)?.to_string().lines() {
                writeln!(out, "{}", host::untrusted::escape(line))?;
            }
            if rows > args.rows {
                writeln!(out, "({} more rows; --rows N shows more, --out DIR writes them all)", rows - args.rows)?;
            }
        }
    }
    if let Some(dir) = args.out {
        writeln!(out, "\noutputs written to {} (<port>.arrow, Arrow IPC files)", dir.display())?;
    }
    if !report.metrics.is_empty() {
        let metrics: Vec<String> = report.metrics.iter().map(|(n, v)| format!("{n}={v}")).collect();
        writeln!(out, "\nmetrics: {}", metrics.join(" "))?;
    }
    let u = &report.usage;
    writeln!(out, "\nlimits (used of allowed):")?;
    writeln!(out, "  memory               {} of {}", kib(u.peak_memory_bytes), kib(u.memory_limit_bytes))?;
    writeln!(out, "  longest call         {:.1} ms of {:.0} ms", u.longest_call_ms, u.call_timeout_ms)?;
    writeln!(out, "  bytes one call       {} of {}", kib(u.most_bytes_one_call), kib(u.output_bytes_limit))?;
    writeln!(out, "  bytes all calls      {} of {}", kib(u.bytes_out_total), kib(u.total_output_bytes_limit))?;
    writeln!(out, "  rows one call        {} of {}", u.most_rows_one_call, u.output_rows_limit)?;
    if let Some(error) = &report.error {
        writeln!(out, "\nerror ({}): {error}", report.error_kind.unwrap_or("failed"))?;
    }
    Ok(())
}

/// The first `limit` rows of `batches`.
fn take_rows(batches: &[RecordBatch], limit: usize) -> Vec<RecordBatch> {
    let mut left = limit;
    let mut shown = Vec::new();
    for batch in batches {
        if left == 0 {
            break;
        }
        let take = batch.num_rows().min(left);
        shown.push(batch.slice(0, take));
        left -= take;
    }
    shown
}
