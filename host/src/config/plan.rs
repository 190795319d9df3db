//! From a [`PipelineFile`] to a checked [`Plan`]: every stage resolved (plugins loaded and
//! opened once on their config, inputs wired to real output ports, the graph acyclic), with
//! every problem reported at once, each naming where it is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::dag::Graph;
use crate::ingest::{Column, ColumnType, CsvSchema};
use crate::runtime::{Limits, Plugin, Runtime, StageErrorKind};
use crate::untrusted::{self, NameKind};

use super::model::{Paths, PipelineFile, ReportConfig, StageConfig, TableColumn, TableConfig, TableMode};
use crate::sinks::{Layout, StoredColumn, TableSpec};

/// The output port of a stage that feeds an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub stage: usize,
    pub port: String,
}

/// A validated pipeline, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub pipeline: String,
    pub paths: Paths,
    pub stages: Vec<PlannedStage>,
    pub graph: Graph,
    /// Stages in a valid run order.
    pub order: Vec<usize>,
    pub checks: Vec<PlannedCheck>,
    /// The linear memory all the run's sandboxes may hold at once (`sandbox.memory_budget_bytes`);
    /// `None`: the runtime's default.
    pub memory_budget: Option<u64>,
    /// Who is told how runs go (`alerts:`).
    pub alerts: Vec<crate::alerts::Alert>,
    /// Whose artifacts are deleted after each run (`retention:`).
    pub retention: Option<crate::run::retention::Retention>,
}

/// An invariant checked after the run.
#[derive(Debug, Clone)]
pub enum PlannedCheck {
    /// Rows read by ingest stage `source` = rows on `output` + rows quarantined from `quarantine`.
    Conservation { source: usize, quarantine: String, output: Upstream },
    /// These decimal columns sum to the same value: (output, column, as written).
    EqualSums { columns: Vec<(Upstream, String, String)> },
}

impl Plan {
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct PlannedStage {
    pub name: String,
    pub critical: bool,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub timeout: Duration,
    pub kind: StageKind,
    /// The output ports other stages may read.
    pub outputs: Vec<String>,
    /// Stages that must have finished before this one starts (`depends_on:`); it may start
    /// beside the others it reads from.
    pub depends_on: Vec<usize>,
}

impl PlannedStage {
    /// The stages whose outputs this one may read while they are still being written.
    pub fn streams_from(&self) -> Vec<usize> {
        let mut from: Vec<usize> =
            self.kind.upstreams().iter().map(|u| u.stage).filter(|s| !self.depends_on.contains(s)).collect();
        from.sort_unstable();
        from.dedup();
        from
    }
}

#[derive(Debug, Clone)]
pub enum StageKind {
    Ingest { path: PathBuf, source: String, schema: CsvSchema, batch_rows: usize, batch_bytes: usize },
    Plugin { plugin: Arc<Plugin>, config: String, limits: Limits, inputs: Vec<(String, Upstream)> },
    Warehouse { tables: Vec<(TableSpec, Upstream)> },
    Reports { reports: Vec<(ReportConfig, Upstream)> },
}

impl StageKind {
    pub fn label(&self) -> &'static str {
        match self {
            StageKind::Ingest { .. } => "ingest",
            StageKind::Plugin { .. } => "plugin",
            StageKind::Warehouse { .. } => "warehouse",
            StageKind::Reports { .. } => "reports",
        }
    }

    /// Every upstream this stage reads.
    pub fn upstreams(&self) -> Vec<&Upstream> {
        match self {
            StageKind::Ingest { .. } => Vec::new(),
            StageKind::Plugin { inputs, .. } => inputs.iter().map(|(_, u)| u).collect(),
            StageKind::Warehouse { tables } => tables.iter().map(|(_, u)| u).collect(),
            StageKind::Reports { reports } => reports.iter().map(|(_, u)| u).collect(),
        }
    }
}

/// Every problem found in a pipeline file.
#[derive(Debug, thiserror::Error)]
#[error("invalid pipeline {path}:\n  - {}", problems.join("\n  - "))]
pub struct PlanError {
    pub path: PathBuf,
    pub problems: Vec<String>,
}

/// Ingest stages output their valid rows on `out` and parse errors on `rejected`.
pub const INGEST_OUTPUTS: [&str; 2] = ["out", "rejected"];

pub fn plan(file: &PipelineFile, path: &Path, runtime: &Runtime) -> Result<Plan, PlanError> {
    let mut problems = Vec::new();
    let names: Vec<&str> = file.stages.iter().map(|s| s.name.as_str()).collect();
    for (i, name) in names.iter().enumerate() {
        if let Err(e) = untrusted::check_name(NameKind::Stage, name) {
            problems.push(format!("stages[{i}]: {e}"));
        } else if names[..i].contains(name) {
            problems.push(format!("stage \"{name}\": declared twice"));
        }
    }
    problems.extend(file.defaults.limits.problems().into_iter().map(|p| format!("defaults: {p}")));
    if let Some(0) = file.sandbox.memory_budget_bytes {
        problems.push("sandbox.memory_budget_bytes: must be more than 0".into());
    }
    let alerts = crate::alerts::build_all(&file.alerts).unwrap_or_else(|found| {
        problems.extend(found);
        Vec::new()
    });
    let retention = match file.retention.as_ref().map(crate::run::retention::Retention::build).transpose() {
        Ok(retention) => retention,
        Err(found) => {
            problems.extend(found);
            None
        }
    };

    // First pass: what each stage is and which outputs it offers.
    let mut plugins = Plugins::new(file);
    let mut partial: Vec<Option<Partial>> = Vec::with_capacity(file.stages.len());
    for stage in &file.stages {
        partial.push(first_pass(file, stage, runtime, &mut plugins, &mut problems));
    }

    // Second pass: wire inputs to upstream outputs.
    let outputs: Vec<Option<Vec<String>>> = partial.iter().map(|p| p.as_ref().map(|p| p.outputs.clone())).collect();
    let resolve = |stage: &str, what: &str, reference: &str, problems: &mut Vec<String>| -> Option<Upstream> {
        let (up_name, port) = match reference.split_once('.') {
            Some((s, p)) => (s, Some(p)),
            None => (reference, None),
        };
        let Some(up) = names.iter().position(|n| *n == up_name) else {
            problems.push(format!("stage \"{stage}\": {what} \"{reference}\" doesn't match any stage"));
            return None;
        };
        let available = outputs[up].as_ref()?;
        match port {
            Some(port) if available.iter().any(|p| p == port) => Some(Upstream { stage: up, port: port.to_owned() }),
            Some(port) => {
                problems.push(format!(
                    "stage \"{stage}\": {what} \"{reference}\": stage \"{up_name}\" has no output port \"{port}\" \
                     (outputs: {})",
                    list(available)
                ));
                None
            }
            None => {
                let data: Vec<&String> = available.iter().filter(|p| *p != "rejected").collect();
                match data.as_slice() {
                    [only] => Some(Upstream { stage: up, port: (*only).clone() }),
                    _ => {
                        problems.push(format!(
                            "stage \"{stage}\": {what} \"{reference}\": stage \"{up_name}\" has several outputs \
                             ({}); name one, e.g. \"{up_name}.{}\"",
                            list(available),
                            available.first().map_or("out", String::as_str)
                        ));
                        None
                    }
                }
            }
        }
    };

    let mut stages = Vec::with_capacity(file.stages.len());
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(file.stages.len());
    for (config, partial) in file.stages.iter().zip(partial) {
        let name = config.name.as_str();
        let mut stage_deps = Vec::new();
        for dep in &config.depends_on {
            match names.iter().position(|n| n == dep) {
                Some(d) => stage_deps.push(d),
                None => problems.push(format!("stage \"{name}\": depends_on \"{dep}\" doesn't match any stage")),
            }
        }
        let Some(partial) = partial else {
            deps.push(stage_deps);
            continue;
        };
        let kind = match partial.kind {
            PartialKind::Ingest { path, source, schema } => StageKind::Ingest {
                path,
                source,
                schema,
                batch_rows: file.defaults.batch_rows.max(1),
                batch_bytes: file.defaults.batch_bytes.max(1),
            },
            PartialKind::Plugin { plugin, config: json, limits, input_ports } => {
                let mut inputs = Vec::new();
                for port in &input_ports {
                    match config.inputs.get(port) {
                        Some(reference) => {
                            if let Some(up) = resolve(name, &format!("input \"{port}\" from"), reference, &mut problems) {
                                inputs.push((port.clone(), up));
                            }
                        }
                        None => problems.push(format!(
                            "stage \"{name}\": input port \"{port}\" of plugin {} is not connected (add `inputs: {{{port}: <stage>}}`)",
                            plugin.label()
                        )),
                    }
                }
                for port in config.inputs.keys() {
                    if !input_ports.contains(port) {
                        problems.push(format!(
                            "stage \"{name}\": plugin {} has no input port \"{port}\" (inputs: {})",
                            plugin.label(),
                            list(&input_ports)
                        ));
                    }
                }
                StageKind::Plugin { plugin, config: json, limits, inputs }
            }
            PartialKind::Warehouse(tables) => {
                let mut wired = Vec::new();
                for (spec, input) in tables {
                    let what = format!("table \"{}\" input", spec.name());
                    if let Some(up) = resolve(name, &what, &input, &mut problems) {
                        wired.push((spec, up));
                    }
                }
                StageKind::Warehouse { tables: wired }
            }
            PartialKind::Reports(reports) => {
                let mut wired = Vec::new();
                for report in reports {
                    let what = format!("report \"{}\" input", report.file);
                    if let Some(up) = resolve(name, &what, &report.input, &mut problems) {
                        wired.push((report, up));
                    }
                }
                StageKind::Reports { reports: wired }
            }
        };
        let depends_on = stage_deps.clone();
        stage_deps.extend(kind.upstreams().iter().map(|u| u.stage));
        deps.push(stage_deps);
        stages.push(PlannedStage {
            name: name.to_owned(),
            critical: config.critical,
            retries: config.retries.unwrap_or(file.defaults.retries),
            retry_backoff: Duration::from_millis(file.defaults.retry_backoff_ms),
            timeout: Duration::from_secs(config.timeout_s.unwrap_or(file.defaults.timeout_s)),
            kind,
            outputs: partial.outputs,
            depends_on,
        });
    }

    let mut checks = Vec::new();
    for check in &file.checks.conservation {
        let source = names.iter().position(|n| *n == check.source);
        let quarantine = source.and_then(|s| match stages.iter().find(|p| p.name == names[s]).map(|p| &p.kind) {
            Some(StageKind::Ingest { source, .. }) => Some(source.clone()),
            _ => None,
        });
        let output = resolve("checks", "conservation output", &check.output, &mut problems);
        match (source, quarantine, output) {
            (Some(source), Some(quarantine), Some(output)) => {
                checks.push(PlannedCheck::Conservation { source, quarantine, output })
            }
            (_, None, _) => {
                problems.push(format!("checks: conservation source \"{}\" is not an ingest stage", check.source))
            }
            _ => {}
        }
    }
    for (i, group) in file.checks.equal_sums.iter().enumerate() {
        let mut columns = Vec::new();
        for reference in group {
            let Some((output, column)) = reference.split_once(':') else {
                problems.push(format!("checks: equal_sums[{i}]: \"{reference}\" is not `stage.port:column`"));
                continue;
            };
            if let Some(up) = resolve("checks", &format!("equal_sums[{i}]"), output, &mut problems) {
                columns.push((up, column.to_owned(), reference.clone()));
            }
        }
        if group.len() < 2 {
            problems.push(format!("checks: equal_sums[{i}] needs at least two columns"));
        }
        checks.push(PlannedCheck::EqualSums { columns });
    }

    let graph = Graph::new(names.iter().map(|n| (*n).to_owned()).collect(), deps);
    let order = match graph.topological_order() {
        Ok(order) => order,
        Err(cycles) => {
            problems.extend(cycles.into_iter().map(|c| format!("cycle: {c}")));
            Vec::new()
        }
    };
    if !problems.is_empty() || stages.len() != file.stages.len() {
        return Err(PlanError { path: path.to_owned(), problems });
    }
    check_known_inputs(&stages, &mut problems);
    if !problems.is_empty() {
        return Err(PlanError { path: path.to_owned(), problems });
    }
    Ok(Plan {
        pipeline: file.pipeline.clone(),
        paths: file.paths.clone(),
        stages,
        graph,
        order,
        checks,
        memory_budget: file.sandbox.memory_budget_bytes,
        alerts,
        retention,
    })
}

/// The plugins of a pipeline, each loaded once however many stages use it; its `describe` runs
/// under the tightest limits of those stages.
struct Plugins {
    /// Per plugin file, the limits its `describe` runs under.
    limits: HashMap<PathBuf, Limits>,
    loaded: HashMap<PathBuf, Result<Arc<Plugin>, String>>,
}

impl Plugins {
    fn new(file: &PipelineFile) -> Self {
        let mut limits: HashMap<PathBuf, Limits> = HashMap::new();
        for stage in &file.stages {
            if let Some(path) = plugin_path(file, stage) {
                let stage_limits = stage_limits(file, stage);
                limits.entry(path).and_modify(|l| *l = l.tightest(&stage_limits)).or_insert(stage_limits);
            }
        }
        Plugins { limits, loaded: HashMap::new() }
    }

    fn load(&mut self, runtime: &Runtime, path: &Path) -> Result<Arc<Plugin>, String> {
        let limits = self.limits.get(path).cloned().unwrap_or_default();
        self.loaded
            .entry(path.to_owned())
            .or_insert_with(|| runtime.load(path, &limits).map(Arc::new).map_err(|e| e.to_string()))
            .clone()
    }
}

/// The file of a plugin stage: `plugin:` as written if absolute, else under `plugin_dir`.
fn plugin_path(file: &PipelineFile, stage: &StageConfig) -> Option<PathBuf> {
    let plugin = stage.plugin.as_ref()?;
    Some(if plugin.is_absolute() { plugin.clone() } else { file.plugin_dir.join(plugin) })
}

/// Where a missing plugin was looked for, and how `plugin:` paths resolve.
fn plugin_not_found(name: &str, file: &PipelineFile, stage: &StageConfig, path: &Path) -> String {
    let looked = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let how = match stage.plugin.as_ref() {
        Some(plugin) if plugin.is_absolute() => "`plugin:` is an absolute path".to_owned(),
        _ if file.plugin_dir.is_absolute() => format!("under plugin_dir {}", file.plugin_dir.display()),
        _ => format!(
            "under plugin_dir `{}`, which is relative to the working directory {}, not to the pipeline file",
            file.plugin_dir.display(),
            std::env::current_dir().map_or_else(|_| "?".to_owned(), |d| d.display().to_string())
        ),
    };
    format!(
        "stage \"{name}\": plugin file not found: looked for {} ({how}); build it, or point plugin_dir at \
         its folder (`--set plugin_dir=DIR`)",
        looked.display()
    )
}

fn stage_limits(file: &PipelineFile, stage: &StageConfig) -> Limits {
    stage.limits.clone().unwrap_or_default().apply(&file.defaults.limits)
}

struct Partial {
    kind: PartialKind,
    outputs: Vec<String>,
}

enum PartialKind {
    Ingest {
        path: PathBuf,
        source: String,
        schema: CsvSchema,
    },
    Plugin {
        plugin: Arc<Plugin>,
        config: String,
        limits: Limits,
        input_ports: Vec<String>,
    },
    /// Each table's spec and the output it loads.
    Warehouse(Vec<(TableSpec, String)>),
    Reports(Vec<ReportConfig>),
}

fn first_pass(
    file: &PipelineFile,
    stage: &StageConfig,
    runtime: &Runtime,
    plugins: &mut Plugins,
    problems: &mut Vec<String>,
) -> Option<Partial> {
    let name = &stage.name;
    let kinds = [stage.ingest.is_some(), stage.plugin.is_some(), stage.warehouse.is_some(), stage.reports.is_some()];
    if kinds.iter().filter(|k| **k).count() != 1 {
        problems.push(format!("stage \"{name}\": needs exactly one of `ingest`, `plugin`, `warehouse`, `reports`"));
        return None;
    }
    if stage.plugin.is_none() {
        for (set, key) in [
            (!stage.inputs.is_empty(), "inputs"),
            (stage.config.is_some(), "config"),
            (stage.sha256.is_some(), "sha256"),
            (stage.limits.is_some(), "limits"),
        ] {
            if set {
                problems.push(format!("stage \"{name}\": `{key}` only applies to plugin stages"));
            }
        }
    }
    if let Some(ingest) = &stage.ingest {
        let mut columns = Vec::new();
        for (i, column) in ingest.columns.iter().enumerate() {
            match column.ty.parse::<ColumnType>() {
                Ok(ty) => columns.push(Column::new(column.name.clone(), ty)),
                Err(e) => problems.push(format!("stage \"{name}\": ingest.columns[{i}] ({}): {e}", column.name)),
            }
        }
        let schema = CsvSchema::new(columns);
        if let Err(e) = schema.check() {
            problems.push(format!("stage \"{name}\": ingest.columns: {e}"));
        }
        let source = ingest.source.clone().unwrap_or_else(|| {
            ingest.file.file_stem().map_or_else(|| name.clone(), |s| s.to_string_lossy().into_owned())
        });
        let path = file.paths.raw_data.join(&ingest.file);
        return Some(Partial {
            kind: PartialKind::Ingest { path, source, schema },
            outputs: INGEST_OUTPUTS.iter().map(|p| (*p).to_owned()).collect(),
        });
    }
    if let Some(path) = plugin_path(file, stage) {
        let limits = stage_limits(file, stage);
        let limit_problems = limits.problems();
        if !limit_problems.is_empty() {
            // Those of `defaults.limits` are reported once, as theirs.
            let inherited = file.defaults.limits.problems();
            let own = limit_problems.into_iter().filter(|p| !inherited.contains(p));
            problems.extend(own.map(|p| format!("stage \"{name}\": {p}")));
            return None;
        }
        if !path.exists() {
            problems.push(plugin_not_found(name, file, stage, &path));
            return None;
        }
        let plugin = match plugins.load(runtime, &path) {
            Ok(plugin) => plugin,
            Err(e) => {
                problems.push(format!("stage \"{name}\": {e}"));
                return None;
            }
        };
        if let Some(pin) = &stage.sha256
            && !pin.eq_ignore_ascii_case(plugin.sha256())
        {
            problems.push(format!(
                "stage \"{name}\": plugin {} has sha256 {}, but the pipeline pins {pin}",
                path.display(),
                plugin.sha256()
            ));
            return None;
        }
        let config = stage.config.as_ref().map_or_else(|| "{}".to_owned(), |c| c.to_string());
        // Opening the plugin on its config checks the config and tells the ports it makes.
        let instance = match plugin.open(name, &config, &limits) {
            Ok(instance) => instance,
            Err(e) if matches!(e.kind, StageErrorKind::InvalidConfig(_)) => {
                problems.push(format!("stage \"{name}\": plugin {} refused its config: {}", plugin.label(), e.kind));
                return None;
            }
            Err(e) => {
                problems.push(format!("stage \"{name}\": plugin {} failed to open: {}", plugin.label(), e.kind));
                return None;
            }
        };
        let ports = instance.ports().clone();
        drop(instance);
        return Some(Partial {
            outputs: ports.outputs.iter().map(|p| p.name.clone()).collect(),
            kind: PartialKind::Plugin {
                plugin,
                config,
                limits,
                input_ports: ports.inputs.iter().map(|p| p.name.clone()).collect(),
            },
        });
    }
    if let Some(tables) = &stage.warehouse {
        let mut specs = Vec::new();
        for table in tables {
            match table_spec(table) {
                Ok(spec) => specs.push((spec, table.input.clone())),
                Err(own) => problems
                    .extend(own.into_iter().map(|p| format!("stage \"{name}\": table \"{}\": {p}", table.table))),
            }
        }
        return Some(Partial { kind: PartialKind::Warehouse(specs), outputs: Vec::new() });
    }
    let reports = stage.reports.clone().unwrap_or_default();
    Some(Partial { kind: PartialKind::Reports(reports), outputs: Vec::new() })
}

/// The spec of a `warehouse:` entry, or every problem with it.
fn table_spec(table: &TableConfig) -> Result<TableSpec, Vec<String>> {
    let mut problems = Vec::new();
    let mut only = |set: bool, key: &str, mode: &str| {
        if set {
            problems.push(format!("`{key}` only applies to mode {mode}"));
        }
    };
    only(!table.partition_by.is_empty() && table.mode != TableMode::Partitioned, "partition_by", "partitioned");
    only(table.key.is_some() && table.mode != TableMode::Upsert, "key", "upsert");
    only(!table.sort_by.is_empty() && table.mode != TableMode::Replace, "sort_by", "replace");
    let layout = match table.mode {
        TableMode::Partitioned => Layout::Partitioned { partition_by: table.partition_by.clone() },
        TableMode::Upsert => match &table.key {
            Some(key) => Layout::Upsert { key: key.clone() },
            None => {
                problems.push("mode upsert needs `key`".into());
                Layout::Upsert { key: String::new() }
            }
        },
        TableMode::Replace => Layout::Replace { sort_by: table.sort_by.clone() },
    };
    let columns = table.columns.as_ref().map(|columns| {
        let column = |(i, column): (usize, &TableColumn)| match column {
            TableColumn::Name(name) => StoredColumn::any(name.clone()),
            TableColumn::Typed(typed) => match crate::types::parse_type(&typed.ty) {
                Ok(data_type) => StoredColumn::typed(typed.name.clone(), data_type),
                Err(e) => {
                    problems.push(format!("columns[{i}] ({}): {e}", typed.name));
                    StoredColumn::any(typed.name.clone())
                }
            },
        };
        columns.iter().enumerate().map(column).collect()
    });
    match TableSpec::new(&table.table, columns, layout) {
        Ok(spec) if problems.is_empty() => Ok(spec),
        Ok(_) => Err(problems),
        Err(more) => {
            // `key` missing is reported once.
            problems.extend(more.into_iter().filter(|p| !(table.key.is_none() && p.starts_with("`key`"))));
            Err(problems)
        }
    }
}

/// Checks each warehouse table fed straight by an ingest stage against the columns that stage
/// declares (other inputs are plugin outputs, known only when a run makes them).
fn check_known_inputs(stages: &[PlannedStage], problems: &mut Vec<String>) {
    for stage in stages {
        let StageKind::Warehouse { tables } = &stage.kind else { continue };
        for (spec, upstream) in tables {
            let Some(StageKind::Ingest { schema, .. }) = stages.get(upstream.stage).map(|s| &s.kind) else { continue };
            if upstream.port != INGEST_OUTPUTS[0] {
                continue;
            }
            let input = schema.arrow_schema();
            problems.extend(spec.input_problems(&input).into_iter().map(|p| {
                format!(
                    "stage \"{}\": table \"{}\" (input {}): {p}",
                    stage.name,
                    spec.name(),
                    stages[upstream.stage].name
                )
            }));
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "none".into() } else { items.join(", ") }
}
