//! A loaded plugin: its compiled component, what it says about itself, and how to open a stage
//! instance on it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::bindings::{PluginPre, WitInfo, WitPort, WitPorts};
use super::contract::{CONTRACT_VERSION, ContractVersion};
use super::engine::Runtime;
use super::error::{LoadError, StageError};
use super::instance::{RunInfo, StageInstance};
use super::limits::Limits;
use crate::untrusted::{self, NameKind, PluginText};

/// A named input or output port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortInfo {
    pub name: String,
    pub description: String,
}

/// What a plugin's `describe` returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub inputs: Vec<PortInfo>,
    pub outputs: Vec<PortInfo>,
    pub config_help: String,
}

impl PluginInfo {
    pub(crate) fn port_list(ports: &[PortInfo]) -> String {
        if ports.is_empty() {
            return "none".into();
        }
        ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// The ports of one opened instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortSet {
    pub inputs: Vec<PortInfo>,
    pub outputs: Vec<PortInfo>,
}

impl PortSet {
    pub fn has_input(&self, port: &str) -> bool {
        self.inputs.iter().any(|p| p.name == port)
    }

    pub fn has_output(&self, port: &str) -> bool {
        self.outputs.iter().any(|p| p.name == port)
    }
}

/// The most input or output ports a plugin may declare.
pub const MAX_PORTS: usize = 64;
/// The longest description (of a plugin or a port) kept, in bytes.
const MAX_DESCRIPTION: usize = 1024;
/// The longest `config-help` kept, in bytes.
const MAX_CONFIG_HELP: usize = 16 << 10;
/// The longest plugin version kept, in bytes.
const MAX_VERSION: usize = 64;

/// Whether port names may be placeholders.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placeholders {
    /// `describe`'s ports document the plugin: `<table>` stands for "one port per configured
    /// table". They are never written to; an opened instance's `ports` are.
    Allowed,
    /// An opened instance's ports are real: each becomes a file name.
    Refused,
}

/// Checks one list of ports a plugin declared (`inputs` or `outputs`): at most [`MAX_PORTS`],
/// names that fit the grammar (or, in `describe`, a placeholder `<name>` whose name does), none
/// twice. Descriptions are cut and escaped.
fn checked_ports(
    what: &str,
    ports: Vec<WitPort>,
    placeholders: Placeholders,
    problems: &mut Vec<String>,
) -> Vec<PortInfo> {
    if ports.len() > MAX_PORTS {
        problems.push(format!("{} {what} ports, more than the limit of {MAX_PORTS}", ports.len()));
        return Vec::new();
    }
    let mut checked: Vec<PortInfo> = Vec::with_capacity(ports.len());
    for port in ports {
        let placeholder = port.name.strip_prefix('<').and_then(|n| n.strip_suffix('>'));
        let name = match placeholder {
            Some(inner) if placeholders == Placeholders::Allowed => inner,
            _ => port.name.as_str(),
        };
        if let Err(error) = untrusted::check_name(NameKind::Port, name) {
            problems.push(format!("{what} {error}"));
        } else if checked.iter().any(|p| p.name == port.name) {
            problems.push(format!("{what} port `{}` is declared twice", port.name));
        } else {
            let description = PluginText::new(&port.description, MAX_DESCRIPTION).into_string();
            checked.push(PortInfo { name: port.name, description });
        }
    }
    checked
}

impl PluginInfo {
    /// What `describe` returned, checked: the name and ports fit the grammar, text is cut and
    /// escaped. Every problem is listed.
    pub(crate) fn from_wit(info: WitInfo) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if let Err(error) = untrusted::check_name(NameKind::Plugin, &info.name) {
            problems.push(error.to_string());
        }
        let inputs = checked_ports("input", info.inputs, Placeholders::Allowed, &mut problems);
        let outputs = checked_ports("output", info.outputs, Placeholders::Allowed, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(PluginInfo {
            name: info.name,
            version: PluginText::new(&info.version, MAX_VERSION).into_string(),
            description: PluginText::new(&info.description, MAX_DESCRIPTION).into_string(),
            inputs,
            outputs,
            // Shown as an indented block (`host plugin inspect`): its line breaks stay.
            config_help: PluginText::lines(&info.config_help, MAX_CONFIG_HELP).into_string(),
        })
    }
}

impl PortSet {
    /// What an opened instance's `ports` returned, checked as `describe`'s ports are.
    pub(crate) fn from_wit(ports: WitPorts) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let inputs = checked_ports("input", ports.inputs, Placeholders::Refused, &mut problems);
        let outputs = checked_ports("output", ports.outputs, Placeholders::Refused, &mut problems);
        if problems.is_empty() { Ok(PortSet { inputs, outputs }) } else { Err(problems) }
    }
}

/// How a plugin got compiled for this load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompileSource {
    /// Compiled now (and saved to the cache, if there is one).
    Compiled,
    /// Loaded from the compile cache.
    Cache,
}

/// A plugin ready to run: compiled, its contract checked, its imports linked, its `describe`
/// read. Cheap to share between threads (clone the `Arc`).
pub struct Plugin {
    pub(crate) runtime: Runtime,
    pub(crate) pre: PluginPre<super::instance::HostState>,
    path: PathBuf,
    label: String,
    sha256: String,
    contract: ContractVersion,
    imports: Vec<String>,
    info: Arc<PluginInfo>,
    source: CompileSource,
    load_time: Duration,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin").field("path", &self.path).field("sha256", &self.sha256).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Loads the plugin at `path`: from the compile cache when its digest is there, otherwise
    /// compiling it (seconds) and caching the result. Its `describe` runs under `limits`, and
    /// what it returns is checked: a plugin whose name or ports don't fit the grammar of names
    /// (see [`crate::untrusted`]) is refused.
    pub fn load(&self, path: &Path, limits: &Limits) -> Result<Plugin, LoadError> {
        let started = Instant::now();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        let sha256 = hex(&Sha256::digest(&bytes));

        let cached = self.cache.as_ref().and_then(|cache| cache.load(&self.engine, &sha256));
        let (component, source) = match cached {
            Some(component) => (component, CompileSource::Cache),
            None => {
                let component = Component::new(&self.engine, &bytes)
                    .map_err(|e| LoadError::Compile { path: path.to_owned(), message: root_message(&e) })?;
                if let Some(cache) = &self.cache
                    && let Err(error) = cache.store(&sha256, &component)
                {
                    tracing::warn!(%error, "cannot save compiled plugin to the cache");
                }
                (component, CompileSource::Compiled)
            }
        };
        drop(bytes);

        let contract = check_contract(path, &component, &self.engine)?;
        let imports = component.component_type().imports(&self.engine).map(|(name, _)| name.to_owned()).collect();
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports { path: path.to_owned(), message: root_message(&e) })?;
        let pre = PluginPre::new(instance_pre)
            .map_err(|e| LoadError::NotAStage { path: path.to_owned(), exports: root_message(&e) })?;

        let label = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut plugin = Plugin {
            runtime: self.clone(),
            pre,
            path: path.to_owned(),
            label,
            sha256,
            contract,
            imports,
            info: Arc::default(),
            source,
            load_time: Duration::ZERO,
        };
        let info = StageInstance::describe(&plugin, limits)
            .map_err(|e| LoadError::Describe { path: path.to_owned(), source: Box::new(e) })?;
        let info =
            PluginInfo::from_wit(info).map_err(|problems| LoadError::BadInfo { path: path.to_owned(), problems })?;
        plugin.info = Arc::new(info);
        plugin.load_time = started.elapsed();
        tracing::debug!(plugin = %plugin.label, sha256 = %plugin.sha256, ?source, load_time = ?plugin.load_time, "plugin loaded");
        Ok(plugin)
    }
}

impl Plugin {
    /// Opens a new instance for a run of stage `stage` with its `config:` block (JSON), in a
    /// fresh store limited by `limits`.
    pub fn open(&self, stage: &str, config: &str, limits: &Limits) -> Result<StageInstance, StageError> {
        StageInstance::open(self, stage, &RunInfo::default(), config, limits)
    }

    /// Like [`open`](Self::open), for a stage of a run: the plugin sees `run` through
    /// `etl:stage/context`.
    pub fn open_in_run(
        &self,
        stage: &str,
        run: &RunInfo,
        config: &str,
        limits: &Limits,
    ) -> Result<StageInstance, StageError> {
        StageInstance::open(self, stage, run, config, limits)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file name, used in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Hex sha256 of the `.wasm` file.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The `etl:stage` contract version the plugin was built for.
    pub fn contract(&self) -> ContractVersion {
        self.contract
    }

    /// The component's import names (WASI interfaces and `etl:stage/log`).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub(crate) fn info_arc(&self) -> Arc<PluginInfo> {
        Arc::clone(&self.info)
    }

    /// Whether this load compiled the component or took it from the cache.
    pub fn compile_source(&self) -> CompileSource {
        self.source
    }

    /// Wall time of [`Runtime::load`] for this plugin.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
}

fn check_contract(path: &Path, component: &Component, engine: &wasmtime::Engine) -> Result<ContractVersion, LoadError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let found = exports.iter().find_map(|name| ContractVersion::of_export_name(name));
    match found {
        None => Err(LoadError::NotAStage {
            path: path.to_owned(),
            exports: if exports.is_empty() { "none".into() } else { exports.join(", ") },
        }),
        Some(Err(message)) => Err(LoadError::BadContract { path: path.to_owned(), message }),
        Some(Ok(version)) if CONTRACT_VERSION.accepts(version) => Ok(version),
        Some(Ok(version)) => {
            Err(LoadError::Contract { path: path.to_owned(), plugin: version, host: CONTRACT_VERSION })
        }
    }
}

/// The innermost message of a wasmtime error, on one line.
pub(crate) fn root_message(error: &wasmtime::Error) -> String {
    error.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
