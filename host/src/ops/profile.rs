//! `--cpuprofile PATH`: samples the whole process's CPU use (host, hyper,
//! wasmtime and, as anonymous frames, compiled guest code) from start-up to
//! exit, and writes what it recorded when the server stops.
//!
//! A path ending in `.svg` gets a flamegraph to open in a browser; any other
//! path gets the pprof protobuf format, for `go tool pprof` or `pprof -http`.

use anyhow::Context as _;
use std::path::PathBuf;

/// Samples per second per thread.
const FREQUENCY: i32 = 499;

/// A profile being recorded.
pub struct CpuProfile {
    guard: pprof::ProfilerGuard<'static>,
    path: PathBuf,
}

impl CpuProfile {
    /// Starts sampling. Fails early, before serving, if the profiler cannot
    /// run or `path` cannot be written.
    pub fn start(path: PathBuf) -> anyhow::Result<Self> {
        std::fs::File::create(&path)
            .with_context(|| format!("cannot write the CPU profile {}", path.display()))?;
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(FREQUENCY)
            // Unwinding through these from a signal handler can deadlock.
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .context("cannot start the CPU profiler")?;
        Ok(Self { guard, path })
    }

    /// Stops sampling and writes the profile; returns the number of samples.
    pub fn finish(self) -> anyhow::Result<usize> {
        let report = self
            .guard
            .report()
            .build()
            .context("building the CPU profile")?;
        let samples = report.data.values().sum::<isize>().max(0) as usize;
        let file = std::fs::File::create(&self.path)
            .with_context(|| format!("cannot write the CPU profile {}", self.path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        if self.path.extension().is_some_and(|ext| ext == "svg") {
            report
                .flamegraph(&mut out)
                .context("writing the flamegraph")?;
        } else {
            use pprof::protos::Message as _;
            let profile = report.pprof().context("encoding the pprof profile")?;
            std::io::Write::write_all(&mut out, &profile.encode_to_vec())?;
        }
        std::io::Write::flush(&mut out)?;
        Ok(samples)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}
