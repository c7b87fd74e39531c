//! The CPU time the client and the server each used in a measurement, so a
//! reader of `kvs compare` can see which side was saturated: on a machine
//! with few cores the load generator shares them with the server, and a
//! heavy client holds every server down alike.
//!
//! Linux only, from `/proc`, in its 10 ms ticks (a measurement runs for
//! seconds); elsewhere the figures are missing and the cells say so.

/// Clock ticks per second in `/proc`'s figures: Linux's `USER_HZ`, fixed
/// at 100 by its user-space ABI on every architecture kvs builds for.
const USER_HZ: f64 = 100.0;

/// CPU seconds (user and system) a process has used, from
/// `/proc/PID/stat` (`"self"` for this process).
pub fn process_seconds(pid: &str) -> Option<f64> {
    stat_seconds(pid, 11)
}

/// CPU seconds used by the child processes this process has waited for
/// (the runs of `redis-benchmark`).
pub fn waited_children_seconds() -> Option<f64> {
    stat_seconds("self", 13)
}

/// The sum of two tick counts of `/proc/PID/stat`, `first` counted from
/// the field after the command name: utime and stime are fields 14 and 15
/// (11 and 12 after the name), cutime and cstime 16 and 17.
fn stat_seconds(pid: &str, first: usize) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, field 2, is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks =
        fields.get(first)?.parse::<u64>().ok()? + fields.get(first + 1)?.parse::<u64>().ok()?;
    Some(ticks as f64 / USER_HZ)
}

/// The CPU a measurement cost each side, per operation.
#[derive(Debug, Clone, Copy)]
pub struct PerOp {
    pub server_us: Option<f64>,
    pub client_us: Option<f64>,
}

impl PerOp {
    /// From the CPU seconds each side used over `ops` operations.
    pub fn new(server_seconds: Option<f64>, client_seconds: Option<f64>, ops: u64) -> Self {
        let per_op = |seconds: f64| seconds * 1e6 / ops.max(1) as f64;
        Self {
            server_us: server_seconds.map(per_op),
            client_us: client_seconds.map(per_op),
        }
    }
}

impl std::fmt::Display for PerOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |us: Option<f64>| us.map_or("?".to_string(), |us| format!("{us:.1}"));
        write!(
            f,
            "CPU/op {} µs server, {} µs client",
            side(self.server_us),
            side(self.client_us)
        )
    }
}

/// The CPU clocks of a server and a client, read at the start of a
/// measurement.
#[derive(Debug)]
pub struct Meter {
    server: String,
    client: Client,
    server_before: Option<f64>,
    client_before: Option<f64>,
}

impl Meter {
    pub fn start(server_pid: u32, client: Client) -> Self {
        let server = server_pid.to_string();
        Self {
            server_before: process_seconds(&server),
            client_before: client.seconds(),
            server,
            client,
        }
    }

    /// What each side used since the start, per operation of `ops`.
    pub fn stop(self, ops: u64) -> PerOp {
        let delta = |before: Option<f64>, after: Option<f64>| Some(after? - before?);
        PerOp::new(
            delta(self.server_before, process_seconds(&self.server)),
            delta(self.client_before, self.client.seconds()),
            ops,
        )
    }
}

/// Where a client's CPU time shows.
#[derive(Debug, Clone, Copy)]
pub enum Client {
    /// In this process (the `kvs bench` harness runs in-process).
    ThisProcess,
    /// In child processes waited for (`redis-benchmark`).
    WaitedChildren,
}

impl Client {
    fn seconds(self) -> Option<f64> {
        match self {
            Self::ThisProcess => process_seconds("self"),
            Self::WaitedChildren => waited_children_seconds(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_cpu_while_it_spins() {
        let meter = Meter::start(std::process::id(), Client::ThisProcess);
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        // 300 ms over 1,000 "operations": about 300 µs each, on both
        // clocks, since this process is both sides here.
        let per_op = meter.stop(1_000);
        for us in [per_op.server_us, per_op.client_us] {
            let us = us.expect("/proc is readable");
            assert!((200.0..5_000.0).contains(&us), "{us} µs");
        }
    }

    #[test]
    fn figures_per_op_read_as_a_cell() {
        let per_op = PerOp::new(Some(0.5), None, 100_000);
        assert_eq!(per_op.to_string(), "CPU/op 5.0 µs server, ? µs client");
    }
}
