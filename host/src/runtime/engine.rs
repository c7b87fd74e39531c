//! The one `Engine` of the process, and guests loaded into it.
//!
//! [`Runtime::load`] compiles a component, links it against the host's world
//! and pre-instantiates it, all before any request can reach it; a component
//! that does not fit the world is refused there with a clear error.

use super::HostInfo;
use super::bindings::ServicePre;
use super::compile::{self, Compiler};
use super::guest::Guest;
use super::pool::Pool;
use super::state::CallState;
use crate::backend::Backend;
use anyhow::Context as _;
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::add_only_http_to_linker_async;

/// How guests are run.
#[derive(Debug, Clone, Copy)]
pub struct GuestConfig {
    /// Guest calls that may run at once (pooling allocator slots).
    pub max_instances: u32,
    /// Linear memory one guest instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// Wall-clock time one guest call may take; a call still running then
    /// traps at its next epoch tick.
    pub timeout: Duration,
    /// Make compiled guest code visible to `perf`.
    pub profiler: GuestProfiler,
    /// An instance whose linear memory grew past this (it served a large
    /// value) is dropped after its call instead of kept warm.
    pub max_retained_memory_bytes: usize,
    /// Where guests are compiled (see [`super::compile`]).
    pub compiler: Compiler,
}

/// Whether compiled guest code is described for an outside profiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GuestProfiler {
    /// Nothing: `perf` shows guest code as anonymous addresses.
    #[default]
    None,
    /// `/tmp/perf-<pid>.map`, which `perf report` reads for guest function names.
    Perfmap,
}

impl Default for GuestConfig {
    fn default() -> Self {
        Self {
            max_instances: 256,
            max_memory_bytes: 128 << 20,
            timeout: Duration::from_secs(10),
            profiler: GuestProfiler::None,
            max_retained_memory_bytes: 32 << 20,
            compiler: Compiler::InProcess,
        }
    }
}

/// How often the engine's epoch advances: the granularity of the timeout,
/// and the longest a guest call runs before it lets other tasks have its
/// runtime thread.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is gone.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("kvs-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// The settings of the engine guests are compiled for and run on; the
/// child that compiles them ([`super::compile`]) builds its engine from the
/// same, so its artifacts fit.
pub(super) fn engine_config(config: &GuestConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(config.max_instances)
        .total_core_instances(config.max_instances * 4)
        .total_memories(config.max_instances * 2)
        .total_tables(config.max_instances * 4)
        .max_memory_size(config.max_memory_bytes);
    let mut engine_config = Config::new();
    engine_config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .profiler(match config.profiler {
            GuestProfiler::None => wasmtime::ProfilingStrategy::None,
            GuestProfiler::Perfmap => wasmtime::ProfilingStrategy::PerfMap,
        });
    engine_config
}

/// The engine, the linker with every host import, and the shared store.
pub struct Runtime {
    engine: Engine,
    config: GuestConfig,
    linker: Linker<CallState>,
    kv: Backend,
    host: HostInfo,
    /// Wall-clock time one guest call may take.
    timeout: Duration,
    /// Warm instances each guest keeps for reuse.
    max_idle: usize,
    /// Linear memory past which an instance is dropped after its call.
    max_retained_memory: usize,
}

impl Runtime {
    pub fn new(config: GuestConfig, kv: Backend, host: HostInfo) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(&config)).map_err(anyhow::Error::from)?;
        start_epoch_ticker(&engine);

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        add_only_http_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        match kv {
            Backend::Memory(_) => {
                super::bindings::memory::store::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            }
            Backend::Redis(_) => {
                super::bindings::store::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            }
        }
        .map_err(anyhow::Error::from)?;
        super::bindings::types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;
        super::bindings::server::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;
        Ok(Self {
            engine,
            config,
            linker,
            kv,
            host,
            timeout: config.timeout,
            // Leave most slots for calls that instantiate afresh, and for the
            // next guest while this one drains.
            max_idle: (config.max_instances as usize / 4).max(1),
            max_retained_memory: config.max_retained_memory_bytes,
        })
    }

    /// Compiles and links a component. Fails, with the reason, if the bytes
    /// are not a component, if it imports something the host does not
    /// provide, or if it lacks an export of the `kvs:store/service` world.
    ///
    /// Compiling takes milliseconds to a second of CPU: call it off the
    /// request path (see [`crate::ops::reload`]).
    pub fn load(&self, bytes: &[u8], source: &str) -> anyhow::Result<Guest> {
        let component = compile::compile(&self.engine, &self.config, bytes)
            .context("cannot compile the guest: it is not a valid WebAssembly component, or it does not fit --guest-memory")?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the guest imports something the kvs host does not provide")?;
        let pre = ServicePre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the guest does not export the kvs:store/service world")?;
        Ok(Guest {
            pre,
            pool: Pool::new(self.max_idle, self.max_retained_memory),
            max_idle: self.max_idle,
            kv: self.kv.clone(),
            host: self.host.clone(),
            timeout: self.timeout,
            digest: digest(bytes),
            source: source.to_string(),
            loaded_at: std::time::SystemTime::now(),
        })
    }
}

/// `sha256:<hex>` of a component's bytes.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
