//! Many workers on one host against one `testarena up`: 50 worker
//! processes of concurrency 1 (the `up` process's own worker drained). The
//! whole stack's CPU while idle (heartbeats, idle pulls, the registry watch
//! of the scheduler and the gateway) over 10 s, then, after a warm-up of
//! two queues per worker (each clones its mirror), queues/s of trivial
//! tasks from 8 submitting clients until every queue ran.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::backlog::{
    stack_cpu_seconds, submit_many, wait_all_ran, wait_for_worker, worker_action,
};
use crate::cpu_meter::CpuMeter;
use crate::fixtures::{self, GitRepo};
use crate::procfs;
use crate::report::Row;
use crate::stack::Stack;

const WORKERS: usize = 50;
const IDLE_WINDOW: Duration = Duration::from_secs(10);
const QUEUES: usize = 3_000;
const CLIENTS: usize = 8;

pub async fn many_workers() -> Result<Vec<Row>> {
    let repo = GitRepo::new(&[("noop.scn", "")])?;
    let mut stack = Stack::up_with_nats_listen().await?;
    let config = fixtures::worker_config(&fixtures::python3());
    for n in 0..WORKERS {
        stack.spawn_worker_with(n, &config, &[])?;
    }
    wait_for_worker(&stack, "up").await?;
    worker_action(&stack, "/api/workers/up/drain").await?;
    for n in 0..WORKERS {
        wait_for_worker(&stack, &format!("worker-{n}")).await?;
    }
    // Starts settle (connections, consumers, the first heartbeats).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_meter = CpuMeter::start(stack.processes());
    let idle_before = cpu_by_part(&stack);
    tokio::time::sleep(IDLE_WINDOW).await;
    let percent = |seconds: f64| seconds / IDLE_WINDOW.as_secs_f64() * 100.0;
    let idle: Vec<(&str, f64)> = cpu_by_part(&stack)
        .into_iter()
        .zip(idle_before)
        .map(|((part, after), (_, before))| (part, percent(after - before)))
        .collect();
    let idle_percent: f64 = idle.iter().map(|(_, p)| p).sum();
    let idle_machine = idle_meter.machine_busy_seconds();

    let stack = Arc::new(stack);
    // Warm-up: each worker clones its mirror once; that is not the rate.
    submit_many(&stack, &repo.url(), "warm", 2 * WORKERS, CLIENTS).await?;
    wait_all_ran(&stack, Duration::from_secs(600)).await?;
    let before = stack_cpu_seconds(&stack);
    let started = Instant::now();
    let refused = submit_many(&stack, &repo.url(), "mw", QUEUES, CLIENTS).await?;
    wait_all_ran(&stack, Duration::from_secs(600)).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let ran = QUEUES - refused;
    let cpu_ms = (stack_cpu_seconds(&stack) - before) * 1e3 / ran.max(1) as f64;
    let mut rows = vec![Row::at_most(
        "idle CPU, whole stack (up + nats-server + 50 workers), % of a core",
        idle_percent,
        "%",
        2.0,
    )];
    for (part, percent) in idle {
        rows.push(Row::info(
            format!("idle CPU of {part}, % of a core"),
            percent,
            "%",
        ));
    }
    rows.extend([
        Row::info(
            "machine CPU busy while idle, all processes",
            idle_machine,
            "s",
        ),
        Row::at_least(
            "trivial queues submitted and run, 50 workers",
            ran as f64 / elapsed,
            "/s",
            200.0,
        ),
        Row::info("CPU per queue, whole stack", cpu_ms, "ms"),
        Row::info("submits not answered 201", refused as f64, ""),
    ]);
    Ok(rows)
}

/// CPU seconds so far of `up` (gateway, scheduler, projector, its drained
/// worker), its nats-server and the 50 workers together: where idle goes.
fn cpu_by_part(stack: &Stack) -> [(&'static str, f64); 3] {
    let mut parts = [("up", 0.0), ("nats-server", 0.0), ("the 50 workers", 0.0)];
    for (name, pid) in stack.processes() {
        let part = match name.as_str() {
            "up" => 0,
            "nats-server" => 1,
            _ => 2,
        };
        parts[part].1 += procfs::cpu_seconds(pid) + procfs::reaped_cpu_seconds(pid);
    }
    parts
}
