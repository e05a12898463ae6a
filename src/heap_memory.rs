//! The heap's share of a service's resident memory. glibc's malloc keeps
//! what was freed in its arenas (one per thread that allocated, up to eight
//! per core) for the next allocation: after a burst of queues, about 1.5 MB
//! of an idle `up` is free heap doing nothing (docs/benchmarks.md,
//! `memory_idle`). Two arenas are plenty for a process whose threads mostly
//! wait on I/O, and `malloc_trim` returns the free pages. It runs once per
//! idle spell — a tick in which the process used almost no CPU, and not
//! again until it has been busy — so a busy service never pays for it, and
//! an idle one only once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long an idle thread of the blocking pool lives (tokio's default is
/// 10 s): its stack and its share of the heap go with it.
pub const IDLE_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// How often the process's CPU time is looked at.
const TICK: Duration = Duration::from_millis(500);
/// CPU time over one tick under which the process counts as idle: 1 % of a
/// core. A queue's own work in the process is several milliseconds.
const IDLE_CPU: Duration = Duration::from_millis(5);

/// Whether the current idle spell was trimmed already.
#[derive(Debug, Default)]
pub struct IdleSpell {
    trimmed: bool,
}

impl IdleSpell {
    /// Given the CPU time the process used over the last tick: whether to
    /// trim now.
    pub fn on_tick(&mut self, cpu: Duration) -> bool {
        if cpu >= IDLE_CPU {
            self.trimmed = false;
            return false;
        }
        !std::mem::replace(&mut self.trimmed, true)
    }
}

/// Ticks until `stop`, trimming once per idle spell.
pub async fn run(stop: CancellationToken) {
    let mut spell = IdleSpell::default();
    let mut before = process_cpu();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.cancelled() => return,
        }
        let now = process_cpu();
        if spell.on_tick(now.saturating_sub(before)) {
            trim();
        }
        before = process_cpu();
    }
}

/// User and system CPU time of the whole process so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_usec).unwrap_or(0) * 1000,
        )
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// At most two malloc arenas, unless `MALLOC_ARENA_MAX` says otherwise;
/// called before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim has no preconditions; it only releases free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators give memory back by themselves, or not at all.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(1);
    const BUSY: Duration = Duration::from_millis(40);

    #[test]
    fn an_idle_spell_is_trimmed_once_and_a_busy_tick_starts_a_new_spell() {
        let mut spell = IdleSpell::default();
        let ticks = [BUSY, QUIET, QUIET, QUIET, BUSY, BUSY, QUIET, QUIET];
        let trims: Vec<bool> = ticks.iter().map(|cpu| spell.on_tick(*cpu)).collect();
        assert_eq!(
            trims,
            [false, true, false, false, false, false, true, false]
        );
    }

    #[test]
    fn the_bound_of_idle_is_one_percent_of_a_core() {
        let mut spell = IdleSpell::default();
        assert!(!spell.on_tick(IDLE_CPU), "5 ms of 500 is not idle");
        assert!(spell.on_tick(IDLE_CPU - Duration::from_micros(1)));
    }
}
