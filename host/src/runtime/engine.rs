//! The process-wide [`Runtime`]: one wasmtime engine, its linker, the compile cache and the epoch
//! ticker that makes call deadlines honest.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings;
use super::cache::CompileCache;
use super::error::LoadError;
use super::instance::HostState;
use super::limits::MemoryBudget;

/// How often the epoch ticks; call deadlines are honoured to within about one tick.
pub(crate) const DEFAULT_TICK: Duration = Duration::from_millis(5);

/// How to set up a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled components are cached; `None` compiles every plugin on every load.
    pub cache_dir: Option<PathBuf>,
    /// Epoch tick period (the precision of call time limits).
    pub tick: Duration,
    /// The linear memory all sandboxes may hold at once (default: half the machine's memory).
    pub memory_budget: u64,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            cache_dir: default_cache_dir(),
            tick: DEFAULT_TICK,
            memory_budget: MemoryBudget::default_limit(),
        }
    }
}

/// `$ETL_CACHE_DIR`, else `$XDG_CACHE_HOME/etl-host`, else `$HOME/.cache/etl-host`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("ETL_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("etl-host")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("etl-host")))
}

/// The sandbox runtime. Create one per process and share it: every plugin loaded from it shares
/// the engine, the compile cache and the ticker.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Arc<Linker<HostState>>,
    pub(crate) cache: Option<CompileCache>,
    pub(crate) tick: Duration,
    pub(crate) memory_budget: Arc<MemoryBudget>,
    _ticker: Arc<Ticker>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("cache", &self.cache).field("tick", &self.tick).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts the engine and the ticker and opens the compile cache.
    pub fn new(options: RuntimeOptions) -> Result<Self, LoadError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.parallel_compilation(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;

        let mut linker = Linker::<HostState>::new(&engine);
        // Rust's std makes every guest import a few WASI interfaces (stdio, environment, clocks,
        // random). They are linked, but each `WasiCtx` is empty: nothing is granted.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| LoadError::Engine(e.to_string()))?;
        bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| LoadError::Engine(e.to_string()))?;

        let cache = match &options.cache_dir {
            Some(dir) => Some(CompileCache::open(dir, &engine)?),
            None => None,
        };
        let ticker = Ticker::start(&engine, options.tick);
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            cache,
            tick: options.tick,
            memory_budget: Arc::new(MemoryBudget::new(options.memory_budget)),
            _ticker: Arc::new(ticker),
        })
    }

    /// The memory budget every sandbox of this runtime draws from.
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.memory_budget
    }
}

/// Advances the engine's epoch every tick until dropped.
#[derive(Debug)]
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: &Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .ok();
        Ticker { stop, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
