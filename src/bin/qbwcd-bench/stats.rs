//! Latency samples per SOAP method, and the server process's counters
//! read from `/proc` (CPU time, peak RSS).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Latency samples (microseconds) by method.
#[derive(Default, Clone)]
pub struct Latencies {
    by_method: BTreeMap<&'static str, Vec<u32>>,
}

impl Latencies {
    /// Records one call.
    pub fn record(&mut self, method: &'static str, took: Duration) {
        let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        self.by_method.entry(method).or_default().push(us);
    }

    /// Adds another recorder's samples.
    pub fn merge(&mut self, other: Latencies) {
        for (m, mut v) in other.by_method {
            self.by_method.entry(m).or_default().append(&mut v);
        }
    }

    /// Percentiles per method.
    pub fn summary(&self) -> Vec<MethodStats> {
        self.by_method
            .iter()
            .map(|(m, v)| {
                let mut v = v.clone();
                v.sort_unstable();
                let at = |q: f64| {
                    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
                    f64::from(v.get(i).copied().unwrap_or(0)) / 1000.0
                };
                MethodStats { method: m, calls: v.len(), p50_ms: at(0.50), p99_ms: at(0.99), max_ms: at(1.0) }
            })
            .collect()
    }
}

/// One method's latency figures.
#[derive(Clone, Debug, Serialize)]
pub struct MethodStats {
    /// SOAP method.
    pub method: &'static str,
    /// Calls measured.
    pub calls: usize,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
}

/// Prints the per-method table.
pub fn print_table(stats: &[MethodStats]) {
    println!("  {:<20} {:>9} {:>9} {:>9} {:>9}", "method", "calls", "p50 ms", "p99 ms", "max ms");
    for s in stats {
        println!("  {:<20} {:>9} {:>9.3} {:>9.3} {:>9.3}", s.method, s.calls, s.p50_ms, s.p99_ms, s.max_ms);
    }
}

/// CPU time (user + system) of a process, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second()))
}

/// `sysconf(_SC_CLK_TCK)` is 100 on every Linux that matters; `getconf`
/// confirms it where available without unsafe code.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A `kB` field of `/proc/PID/status` (`VmHWM` = peak RSS, `VmRSS` = now), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Megabytes, for reports.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
