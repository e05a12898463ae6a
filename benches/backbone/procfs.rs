//! What the benchmark reads from `/proc`: resident memory and CPU time of
//! the processes it started, their children, the machine and its load.

use std::path::Path;

/// Bytes in one MB as the targets are read: 10^6, the stricter reading.
pub const MB: f64 = 1e6;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

pub fn status_mb(pid: u32, field: &str) -> f64 {
    status_bytes(pid, field).map_or(f64::NAN, |b| b as f64 / MB)
}

pub fn rss_mb(pid: u32) -> f64 {
    status_mb(pid, "VmRSS")
}

pub fn hwm_mb(pid: u32) -> f64 {
    status_mb(pid, "VmHWM")
}

/// User + system CPU seconds a process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu(pid, &[11, 12])
}

/// CPU seconds of the children a process has reaped (its git, sh, tasks).
pub fn reaped_cpu_seconds(pid: u32) -> f64 {
    stat_cpu(pid, &[13, 14])
}

/// Sums CPU-time fields of `/proc/<pid>/stat`, indexed after the command name.
fn stat_cpu(pid: u32, fields_after_comm: &[usize]) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // The command name may hold spaces: fields start after its closing ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14 to 17 of stat(5); `rest`
    // starts at field 3.
    let ticks: u64 = fields_after_comm
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / per_second
}

/// CPU seconds (user + system) of every child this process has reaped.
pub fn reaped_children_cpu_seconds() -> f64 {
    let (user, system) = reaped_children_cpu();
    user + system
}

/// (user, system) CPU seconds of every child this process has reaped.
pub fn reaped_children_cpu() -> (f64, f64) {
    // SAFETY: getrusage fills the struct we own and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

/// Direct children of `pid` whose command name is `comm`.
pub fn children_named(pid: u32, comm: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                return false;
            };
            let Some((head, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let name = head.split_once('(').map_or("", |(_, name)| name);
            let parent = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            name == comm && parent == Some(pid)
        })
        .collect()
}

pub fn is_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The machine, as `docs/benchmarks.md` describes it.
pub fn machine() -> Vec<(&'static str, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
        .unwrap_or_else(|| "?".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kb: f64 = m
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(format!("{:.1} GiB", kb / (1024.0 * 1024.0)))
        })
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    vec![
        ("nproc", nproc),
        ("cpu", cpu),
        ("memory", memory),
        ("kernel", kernel),
        ("rustc", command_line("rustc", &["--version"])),
        ("nats-server", nats_server_version()),
        ("git", command_line("git", &["--version"])),
        ("commit", commit()),
    ]
}

/// The commit being measured, `+dirty` when the tree has changes.
fn commit() -> String {
    let repo = env!("CARGO_MANIFEST_DIR");
    let head = command_line("git", &["-C", repo, "rev-parse", "--short", "HEAD"]);
    let dirty = std::process::Command::new("git")
        .args(["-C", repo, "status", "--porcelain"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{head}+dirty")
    } else {
        head
    }
}

fn nats_server_version() -> String {
    match testarena::nats_server::find_binary() {
        Ok(path) => command_line(&path.display().to_string(), &["--version"]),
        Err(_) => "not found".into(),
    }
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}
