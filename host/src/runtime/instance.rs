//! One stage run on a plugin: a fresh, capability-free store with its limits, the calls into the
//! guest, and the checks on everything the guest hands back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use wasmtime::component::{ResourceAny, ResourceTable};
use wasmtime::{Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{self, Level, WitError, WitOutput};
use super::error::{StageError, StageErrorKind};
use super::limits::{Limits, MemoryBudget, MemoryCap, Refusal};
use super::plugin::{Plugin, PluginInfo, PortSet, root_message};
use crate::untrusted::{self, NameKind, PluginText};

/// The most metrics kept from one instance; later ones are dropped, with one warning.
pub const MAX_METRICS: usize = 1000;

/// The run a stage instance works for, as the plugin sees it through `etl:stage/context`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    /// `YYYY-MM-DD`.
    pub logical_date: String,
    /// 1 for the first attempt at the stage in this run.
    pub attempt: u32,
}

/// The state of one store: the empty WASI context, the limiter and what the plugin logged.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    stage: String,
    plugin: String,
    run: RunInfo,
    logs_left: u64,
    last_panic: Option<PluginText>,
}

impl HostState {
    fn new(stage: &str, plugin: &str, run: &RunInfo, limits: &Limits, budget: Arc<MemoryBudget>) -> Self {
        // Nothing inherited or granted: no preopened directories, no environment, no arguments,
        // no stdio (reads see end of file, writes go nowhere), no network.
        let wasi = WasiCtx::builder().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap::new(limits.memory_bytes, budget),
            stage: stage.to_owned(),
            plugin: plugin.to_owned(),
            run: run.clone(),
            logs_left: limits.log_records,
            last_panic: None,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl bindings::etl::stage::log::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        if let Some(panic) = message.strip_prefix("panic: ") {
            self.last_panic = Some(PluginText::message(panic));
        }
        if self.logs_left == 0 {
            return;
        }
        self.logs_left -= 1;
        let (stage, plugin) = (&self.stage, &self.plugin);
        let level = match level {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        super::log_plugin_message(level, stage, plugin, &message);
        if self.logs_left == 0 {
            tracing::warn!(stage, plugin, "plugin reached its log limit; further records are dropped");
        }
    }
}

impl bindings::etl::stage::context::Host for HostState {
    fn current_run(&mut self) -> bindings::etl::stage::context::Run {
        bindings::etl::stage::context::Run {
            id: self.run.run_id.clone(),
            logical_date: self.run.logical_date.clone(),
            stage: self.stage.clone(),
            attempt: self.run.attempt,
        }
    }
}

/// `types` declares no functions, only the types the others use.
impl bindings::etl::stage::types::Host for HostState {}

/// The batches one call emitted on one output port.
#[derive(Debug, Clone)]
pub struct Output {
    pub port: String,
    pub batches: Vec<RecordBatch>,
}

impl Output {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Counters of one instance, for the run store and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceStats {
    pub calls: u64,
    pub rows_in: u64,
    pub rows_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Wall time spent inside guest calls.
    pub guest_time: Duration,
    /// The instance's linear memory at its largest, in bytes.
    pub memory_bytes: u64,
}

/// One run of a stage on a plugin. Not reusable after a trap: every call then fails with
/// [`StageErrorKind::Poisoned`].
pub struct StageInstance {
    store: Store<HostState>,
    bindings: bindings::Plugin,
    handle: Option<ResourceAny>,
    info: Arc<PluginInfo>,
    /// The opened instance's ports (its config may refine `info`'s).
    ports: PortSet,
    limits: Limits,
    deadline_ticks: u64,
    tick: Duration,
    schemas: HashMap<String, SchemaRef>,
    poisoned: bool,
    stats: InstanceStats,
    /// The encode buffer for pushes, kept between calls.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for StageInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.store.data();
        f.debug_struct("StageInstance")
            .field("stage", &state.stage)
            .field("plugin", &state.plugin)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl StageInstance {
    fn new(plugin: &Plugin, stage: &str, run: &RunInfo, limits: &Limits) -> Result<Self, StageError> {
        let runtime = &plugin.runtime;
        let state = HostState::new(stage, plugin.label(), run, limits, Arc::clone(&runtime.memory_budget));
        let mut store = Store::new(&runtime.engine, state);
        store.limiter(|state| &mut state.memory);
        store.epoch_deadline_trap();
        store.set_hostcall_fuel(usize::try_from(limits.output_bytes).unwrap_or(usize::MAX));
        let deadline_ticks = deadline_ticks(limits.call_timeout, runtime.tick);
        store.set_epoch_deadline(deadline_ticks);

        match plugin.pre.instantiate(&mut store) {
            Ok(bindings) => Ok(StageInstance {
                store,
                bindings,
                handle: None,
                // Until `open` has asked the instance for its own: `describe`'s ports document the
                // plugin (`<table>`), and nothing is accepted on them.
                ports: PortSet::default(),
                info: plugin.info_arc(),
                limits: limits.clone(),
                deadline_ticks,
                tick: runtime.tick,
                schemas: HashMap::new(),
                poisoned: false,
                stats: InstanceStats::default(),
                scratch: Vec::new(),
            }),
            Err(error) => {
                let state = store.data();
                let kind = classify(state, limits, "instantiate", &error);
                Err(StageError { stage: state.stage.clone(), plugin: state.plugin.clone(), kind })
            }
        }
    }

    /// Instantiates the plugin and reads its `describe`, unchecked.
    pub(crate) fn describe(plugin: &Plugin, limits: &Limits) -> Result<bindings::WitInfo, StageError> {
        let mut instance = Self::new(plugin, "describe", &RunInfo::default(), limits)?;
        instance.call("describe", |store, bindings| bindings.etl_stage_stage().call_describe(store))
    }

    pub(crate) fn open(
        plugin: &Plugin,
        stage: &str,
        run: &RunInfo,
        config: &str,
        limits: &Limits,
    ) -> Result<Self, StageError> {
        let mut instance = Self::new(plugin, stage, run, limits)?;
        let result =
            instance.call("open", |store, bindings| bindings.etl_stage_stage().instance().call_open(store, config))?;
        let handle = result.map_err(|error| instance.error(plugin_error(error)))?;
        instance.handle = Some(handle);
        let ports = instance
            .call("ports", |store, bindings| bindings.etl_stage_stage().instance().call_ports(store, handle))?;
        instance.ports = PortSet::from_wit(ports).map_err(|problems| {
            instance.fail(StageErrorKind::BadPorts { call: "ports", problems: problems.join("; ") })
        })?;
        Ok(instance)
    }

    /// Sends one batch on input `port` and returns what the stage emitted in response.
    pub fn push(&mut self, port: &str, batch: &RecordBatch) -> Result<Vec<Output>, StageError> {
        if !self.ports.has_input(port) {
            let declared = PluginInfo::port_list(&self.ports.inputs);
            return Err(self.error(StageErrorKind::UnknownInput { port: port.to_owned(), declared }));
        }
        let mut bytes = std::mem::take(&mut self.scratch);
        if let Err(e) = etl_format::ipc::encode_into(&mut bytes, &batch.schema(), [batch]) {
            return Err(self.error(StageErrorKind::Encode { port: port.to_owned(), message: e.to_string() }));
        }
        self.stats.rows_in += batch.num_rows() as u64;
        self.stats.bytes_in += bytes.len() as u64;
        let handle = self.handle()?;
        let result = self.call("push", |store, bindings| {
            bindings.etl_stage_stage().instance().call_push(store, handle, port, &bytes)
        });
        self.scratch = bytes;
        self.accept("push", result?)
    }

    /// Tells the stage its inputs are done and returns what it emits last.
    pub fn finish(&mut self) -> Result<Vec<Output>, StageError> {
        let handle = self.handle()?;
        let result =
            self.call("finish", |store, bindings| bindings.etl_stage_stage().instance().call_finish(store, handle))?;
        self.accept("finish", result)
    }

    /// The stage's counters: the first [`MAX_METRICS`] with a valid name, each name once (the
    /// first value wins). What is dropped is said in one warning.
    pub fn metrics(&mut self) -> Result<Vec<(String, i64)>, StageError> {
        let handle = self.handle()?;
        let metrics =
            self.call("metrics", |store, bindings| bindings.etl_stage_stage().instance().call_metrics(store, handle))?;
        let state = self.store.data();
        Ok(keep_metrics(&state.stage, &state.plugin, metrics.into_iter().map(|m| (m.name, m.value))))
    }

    /// Changes the time limit of the calls that follow (the scheduler shortens it as the stage's
    /// own time limit approaches).
    pub fn set_call_timeout(&mut self, timeout: Duration) {
        self.limits.call_timeout = timeout;
        self.deadline_ticks = deadline_ticks(timeout, self.tick);
    }

    pub fn stats(&self) -> InstanceStats {
        InstanceStats { memory_bytes: self.store.data().memory.granted, ..self.stats }
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// This instance's ports: inputs in delivery order, and the outputs it may emit on.
    pub fn ports(&self) -> &PortSet {
        &self.ports
    }

    /// Runs one guest call under the deadline; a trap poisons the instance.
    fn call<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut Store<HostState>, &bindings::Plugin) -> wasmtime::Result<R>,
    ) -> Result<R, StageError> {
        if self.poisoned {
            return Err(self.error(StageErrorKind::Poisoned));
        }
        self.store.set_epoch_deadline(self.deadline_ticks);
        let state = self.store.data_mut();
        state.memory.refused = None;
        state.last_panic = None;
        let started = Instant::now();
        let result = f(&mut self.store, &self.bindings);
        self.stats.guest_time += started.elapsed();
        self.stats.calls += 1;
        result.map_err(|error| {
            self.poisoned = true;
            let kind = classify(self.store.data(), &self.limits, call, &error);
            self.error(kind)
        })
    }

    /// The open instance's resource handle.
    fn handle(&self) -> Result<ResourceAny, StageError> {
        self.handle.ok_or_else(|| self.error(StageErrorKind::Poisoned))
    }

    /// Checks what a `push` or `finish` returned: the plugin's own error, declared ports,
    /// well-formed IPC, one schema per port, and the row limit.
    fn accept(
        &mut self,
        call: &'static str,
        result: Result<Vec<WitOutput>, WitError>,
    ) -> Result<Vec<Output>, StageError> {
        let outputs = result.map_err(|e| self.error(plugin_error(e)))?;
        let mut accepted: Vec<Output> = Vec::with_capacity(outputs.len());
        let mut rows = 0u64;
        for WitOutput { port, batch } in outputs {
            if !self.ports.has_output(&port) {
                let declared = PluginInfo::port_list(&self.ports.outputs);
                let port = PluginText::new(&port, NameKind::Port.max_len());
                return Err(self.fail(StageErrorKind::UndeclaredPort { call, port, declared }));
            }
            self.stats.bytes_out += batch.len() as u64;
            if self.stats.bytes_out > self.limits.total_output_bytes {
                return Err(self.fail(StageErrorKind::TotalOutputBytes { call, limit: self.limits.total_output_bytes }));
            }
            let (schema, batches) = match etl_format::ipc::decode(batch) {
                Ok(decoded) => decoded,
                Err(e) => {
                    let message = PluginText::message(&e.to_string());
                    return Err(self.fail(StageErrorKind::BadIpc { call, port, message }));
                }
            };
            // A port's first schema is checked; later ones must have the same columns.
            if !self.schemas.contains_key(&port)
                && let Err(problem) = untrusted::check_columns(&schema)
            {
                return Err(self.fail(StageErrorKind::BadColumns { call, port, problem }));
            }
            if let Some(before) = self.schemas.get(&port)
                && !etl_format::ipc::same_columns(before, &schema)
            {
                let before = PluginText::message(&etl_format::ipc::describe_columns(before));
                let after = PluginText::message(&etl_format::ipc::describe_columns(&schema));
                return Err(self.fail(StageErrorKind::SchemaChanged { call, port, before, after }));
            }
            self.schemas.entry(port.clone()).or_insert(schema);
            rows += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
            if rows > self.limits.output_rows {
                return Err(self.fail(StageErrorKind::OutputRows { call, rows, limit: self.limits.output_rows }));
            }
            match accepted.iter_mut().find(|o| o.port == port) {
                Some(output) => output.batches.extend(batches),
                None => accepted.push(Output { port, batches }),
            }
        }
        self.stats.rows_out += rows;
        Ok(accepted)
    }

    /// An error that also poisons the instance: the plugin broke the contract.
    fn fail(&mut self, kind: StageErrorKind) -> StageError {
        self.poisoned = true;
        self.error(kind)
    }

    fn error(&self, kind: StageErrorKind) -> StageError {
        let state = self.store.data();
        StageError { stage: state.stage.clone(), plugin: state.plugin.clone(), kind }
    }
}

/// Epoch ticks for `timeout`, plus one: the deadline counts from the tick already under way.
fn deadline_ticks(timeout: Duration, tick: Duration) -> u64 {
    let tick = tick.as_nanos().max(1);
    u64::try_from(timeout.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX).saturating_add(1)
}

fn plugin_error(error: WitError) -> StageErrorKind {
    match error {
        WitError::InvalidConfig(m) => StageErrorKind::InvalidConfig(PluginText::message(&m)),
        WitError::InvalidInput(m) => StageErrorKind::InvalidInput(PluginText::message(&m)),
        WitError::Failed(m) => StageErrorKind::Failed(PluginText::message(&m)),
    }
}

/// The metrics the host keeps of those a stage reported: the first [`MAX_METRICS`] distinct ones
/// whose names fit the grammar. Sandboxed or native, the same rule; one warning says what was
/// dropped.
pub(crate) fn keep_metrics(
    stage: &str,
    plugin: &str,
    metrics: impl Iterator<Item = (String, i64)>,
) -> Vec<(String, i64)> {
    let mut kept: Vec<(String, i64)> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let (mut over, mut duplicates, mut invalid, mut first_invalid) = (0u64, 0u64, 0u64, None);
    for (name, value) in metrics {
        if let Err(error) = untrusted::check_name(NameKind::Metric, &name) {
            invalid += 1;
            first_invalid.get_or_insert(error);
        } else if names.contains(&name) {
            duplicates += 1;
        } else if kept.len() == MAX_METRICS {
            over += 1;
        } else {
            names.insert(name.clone());
            kept.push((name, value));
        }
    }
    if over + duplicates + invalid > 0 {
        let mut dropped = Vec::new();
        if over > 0 {
            dropped.push(format!("{over} past the limit of {MAX_METRICS} metrics per stage"));
        }
        if duplicates > 0 {
            dropped.push(format!("{duplicates} repeating an earlier name"));
        }
        if let Some(error) = first_invalid {
            dropped.push(format!("{invalid} with a name the host refuses (the first: {error})"));
        }
        tracing::warn!(stage, plugin, "plugin metrics dropped: {}", dropped.join("; "));
    }
    kept
}

/// Says which limit or fault ended a guest call.
fn classify(state: &HostState, limits: &Limits, call: &'static str, error: &wasmtime::Error) -> StageErrorKind {
    match state.memory.refused {
        Some(Refusal::Limit(requested)) => {
            return StageErrorKind::Memory { call, limit: limits.memory_bytes, requested };
        }
        Some(Refusal::Budget { requested, in_use }) => {
            return StageErrorKind::MemoryBudget { call, budget: state.memory.budget_limit(), requested, in_use };
        }
        None => {}
    }
    let trap = error.downcast_ref::<Trap>();
    if trap == Some(&Trap::Interrupt) {
        return StageErrorKind::Timeout { call, limit: limits.call_timeout };
    }
    if let Some(message) = &state.last_panic {
        return StageErrorKind::Panic { call, message: message.clone() };
    }
    let message = match trap {
        Some(trap) => trap.to_string(),
        None => root_message(error),
    };
    if message.contains("too much data is being copied") {
        return StageErrorKind::OutputBytes { call, limit: limits.output_bytes };
    }
    // A trap's message can quote the plugin's own function names.
    StageErrorKind::Trap { call, message: PluginText::message(&message) }
}
