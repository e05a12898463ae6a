//! Where the CPU went during a measurement: each process of the stack (its
//! own time and that of the children it reaped, e.g. git and tasks), and
//! the whole machine, so contention from other work shows in the report.

use std::time::Instant;

use crate::procfs;
use crate::report::Row;

pub struct CpuMeter {
    started: Instant,
    machine: Option<(u64, u64)>,
    before: Vec<(String, u32, f64, f64)>,
}

impl CpuMeter {
    pub fn start(processes: Vec<(String, u32)>) -> Self {
        Self {
            started: Instant::now(),
            machine: machine_ticks(),
            before: processes
                .into_iter()
                .map(|(name, pid)| {
                    let own = procfs::cpu_seconds(pid);
                    let children = procfs::reaped_cpu_seconds(pid);
                    (name, pid, own, children)
                })
                .collect(),
        }
    }

    /// CPU seconds every process of the machine used since `start`.
    pub fn machine_busy_seconds(&self) -> f64 {
        let (Some((busy0, total0)), Some((busy1, total1))) = (self.machine, machine_ticks()) else {
            return f64::NAN;
        };
        let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        let busy = (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64;
        busy * cores * self.started.elapsed().as_secs_f64()
    }

    /// CPU seconds used since `start`, as info rows suffixed with `label`.
    pub fn rows(&self, label: &str) -> Vec<Row> {
        let wall = self.started.elapsed().as_secs_f64();
        let mut rows = Vec::new();
        for (name, pid, own, children) in &self.before {
            rows.push(Row::info(
                format!("CPU {name}{label}"),
                procfs::cpu_seconds(*pid) - own,
                "s",
            ));
            let reaped = procfs::reaped_cpu_seconds(*pid) - children;
            if reaped > 0.005 {
                rows.push(Row::info(
                    format!("CPU {name}'s child processes{label}"),
                    reaped,
                    "s",
                ));
            }
        }
        rows.push(Row::info(
            format!("machine CPU busy, all processes{label}"),
            self.machine_busy_seconds(),
            "s",
        ));
        rows.push(Row::info(format!("wall time{label}"), wall, "s"));
        rows
    }
}

/// (busy, total) jiffies of all CPUs from `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    // idle and iowait are the 4th and 5th.
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total - idle, total))
}
