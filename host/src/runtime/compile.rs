//! Where a guest is compiled: in a short-lived child process, so the
//! serving process never runs the compiler.
//!
//! Cranelift is a large program. Compiling the guest in the server faulted
//! in megabytes of the compiler's own code and left megabytes of freed
//! scratch in the allocator's arenas, all of it resident for as long as the
//! server then ran. Compiled by a child (this same executable, run as
//! `kvs compile-guest`, which reads the component on stdin and writes the
//! compiled artifact on stdout), the server only loads the result; and a
//! component that crashes the compiler takes down the child, not the
//! server.
//!
//! The child builds its engine from the same [`GuestConfig`], so the
//! artifact fits the server's engine, which checks that as it loads it.
//! Where no child can run (a library user, the tests, or a child that
//! fails for a reason of its own rather than the component's), the server
//! compiles in process, as before.

use super::engine::{GuestConfig, GuestProfiler, engine_config};
use anyhow::{Context as _, bail};
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where [`super::Runtime::load`] compiles guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compiler {
    /// In this process.
    #[default]
    InProcess,
    /// In a child running this executable's `compile-guest` subcommand;
    /// only the `kvs` binary has it.
    Child,
}

/// The exit status of a child that refused the component itself (it does
/// not compile); any other failure is the child's, and the server compiles
/// in process instead.
const REFUSED: i32 = 3;

/// Arguments of `kvs compile-guest`: what the engine is built from. Not
/// the profiler: it describes code to `perf` as a process loads it, so the
/// server's own engine does that, and the compiled code is the same.
#[derive(Debug, Clone, clap::Args)]
pub struct CompileArgs {
    #[arg(long)]
    pub max_instances: u32,
    #[arg(long)]
    pub max_memory_bytes: usize,
}

impl CompileArgs {
    fn of(config: &GuestConfig) -> Vec<String> {
        vec![
            "compile-guest".into(),
            format!("--max-instances={}", config.max_instances),
            format!("--max-memory-bytes={}", config.max_memory_bytes),
        ]
    }
}

/// `kvs compile-guest`: compiles the component on stdin and writes the
/// artifact on stdout. Exits with [`REFUSED`] if the component does not
/// compile, saying why on stderr.
pub fn run_child(args: &CompileArgs) -> anyhow::Result<()> {
    let config = GuestConfig {
        max_instances: args.max_instances,
        max_memory_bytes: args.max_memory_bytes,
        profiler: GuestProfiler::None,
        ..GuestConfig::default()
    };
    let engine = Engine::new(&engine_config(&config)).map_err(anyhow::Error::from)?;
    let mut component = Vec::new();
    std::io::stdin()
        .read_to_end(&mut component)
        .context("reading the component from stdin")?;
    match engine.precompile_component(&component) {
        Ok(artifact) => std::io::stdout()
            .write_all(&artifact)
            .context("writing the compiled guest to stdout"),
        Err(error) => {
            eprintln!("{:#}", anyhow::Error::from(error));
            std::process::exit(REFUSED);
        }
    }
}

/// Compiles `bytes` for `engine`, built from `config`, where
/// `config.compiler` says.
pub fn compile(engine: &Engine, config: &GuestConfig, bytes: &[u8]) -> anyhow::Result<Component> {
    if config.compiler == Compiler::Child {
        match in_child(config, bytes) {
            Ok(artifact) => match load(engine, &artifact) {
                Ok(component) => return Ok(component),
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "the guest compiled by a child process does not load; compiling it here"
                ),
            },
            Err(Failed::Refused(reason)) => bail!("{reason}"),
            Err(Failed::Child(error)) => tracing::warn!(
                error = format!("{error:#}"),
                "cannot compile the guest in a child process; compiling it here"
            ),
        }
    }
    Component::new(engine, bytes).map_err(anyhow::Error::from)
}

enum Failed {
    /// The component does not compile: the reason.
    Refused(String),
    /// The child could not do its work.
    Child(anyhow::Error),
}

/// Runs `kvs compile-guest` on `bytes` and returns the artifact.
fn in_child(config: &GuestConfig, bytes: &[u8]) -> Result<Vec<u8>, Failed> {
    // The running executable itself, even if its file was replaced or
    // removed since it started (an upgrade in place).
    let exe = if cfg!(target_os = "linux") {
        "/proc/self/exe".into()
    } else {
        std::env::current_exe().map_err(|e| Failed::Child(e.into()))?
    };
    let mut child = Command::new(exe)
        .args(CompileArgs::of(config))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failed::Child(anyhow::Error::from(e).context("starting the child")))?;
    // The child reads all of stdin before it writes anything, so writing
    // first and then reading cannot deadlock.
    let written = child.stdin.take().expect("stdin is piped").write_all(bytes);
    let output = child
        .wait_with_output()
        .map_err(|e| Failed::Child(e.into()))?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    match output.status.code() {
        Some(0) if written.is_ok() => Ok(output.stdout),
        Some(REFUSED) => Err(Failed::Refused(stderr)),
        // Killed by a signal: the compiler crashed on this component, or
        // ran out of memory. Either would take the server down with it.
        None => Err(Failed::Refused(format!(
            "compiling the guest killed the compiler ({}) {stderr}",
            output.status
        ))),
        _ => Err(Failed::Child(anyhow::anyhow!(
            "the child exited with {} ({stderr})",
            output.status
        ))),
    }
}

/// Loads an artifact compiled by [`run_child`].
#[allow(unsafe_code, reason = "loading compiled code is unsafe by nature")]
fn load(engine: &Engine, artifact: &[u8]) -> anyhow::Result<Component> {
    // SAFETY: `Component::deserialize` trusts that the bytes are an
    // artifact wasmtime wrote, unmodified; it checks itself that they fit
    // this engine (version, target, settings). These come straight from a
    // child running this very executable, over a pipe no one else holds.
    unsafe { Component::deserialize(engine, artifact) }.map_err(anyhow::Error::from)
}
