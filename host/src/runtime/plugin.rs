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

fn from_wit_ports(ports: Vec<WitPort>) -> Vec<PortInfo> {
    ports.into_iter().map(|p| PortInfo { name: p.name, description: p.description }).collect()
}

impl From<WitInfo> for PluginInfo {
    fn from(info: WitInfo) -> Self {
        PluginInfo {
            name: info.name,
            version: info.version,
            description: info.description,
            inputs: from_wit_ports(info.inputs),
            outputs: from_wit_ports(info.outputs),
            config_help: info.config_help,
        }
    }
}

impl From<WitPorts> for PortSet {
    fn from(ports: WitPorts) -> Self {
        PortSet { inputs: from_wit_ports(ports.inputs), outputs: from_wit_ports(ports.outputs) }
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
    /// compiling it (seconds) and caching the result.
    pub fn load(&self, path: &Path) -> Result<Plugin, LoadError> {
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
        let info = StageInstance::describe(&plugin, &Limits::default())
            .map_err(|e| LoadError::Describe { path: path.to_owned(), source: Box::new(e) })?;
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
