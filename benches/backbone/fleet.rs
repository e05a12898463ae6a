//! The fleet: what routing costs. submit → `started` with four workers in
//! one pool (no labels) and with four capability pools (each worker its
//! own label, each queue requiring one); and the CPU the registry's
//! heartbeats cost an idle worker.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cpu_meter::CpuMeter;
use crate::event_backbone::sequential_submits;
use crate::fixtures;
use crate::procfs;
use crate::report::Row;
use crate::stack::{Services, Stack};
use crate::stats::{summarize, Summary};

const WAIT: Duration = Duration::from_secs(30);
const WORKERS: usize = 4;
/// How long idle workers are watched for their heartbeat cost.
const IDLE_WINDOW: Duration = Duration::from_secs(20);

pub async fn routing_pools() -> Result<Vec<Row>> {
    let one_pool = submit_to_started(false).await?;
    let pools = submit_to_started(true).await?;
    let (heartbeat_cpu, idle_rows) = idle_worker_cpu().await?;
    let mut rows = vec![
        Row::info("one pool: submit → started p50", one_pool.p50, "ms"),
        Row::info("one pool: submit → started p99", one_pool.p99, "ms"),
        Row::at_most("4 pools: submit → started p50", pools.p50, "ms", 2.0),
        Row::at_most("4 pools: submit → started p99", pools.p99, "ms", 5.0),
        Row::at_most(
            "routing over one pool, p50",
            pools.p50 - one_pool.p50,
            "ms",
            0.3,
        ),
        Row::at_most(
            "idle worker CPU (heartbeats), % of a core",
            heartbeat_cpu,
            "%",
            1.0,
        ),
        Row::info("submits measured per layout", pools.n as f64, ""),
    ];
    rows.extend(idle_rows);
    Ok(rows)
}

/// Four workers; with `pools`, worker N has `pool=N` and queue i requires
/// `pool=(i mod 4)`. Sequential submits, each after the previous queue
/// finished, so a worker is idle when the submit lands.
async fn submit_to_started(pools: bool) -> Result<Summary> {
    let mut stack = Stack::start(Services::all(0)).await?;
    for n in 0..WORKERS {
        let labels = if pools {
            format!("labels = [\"pool={n}\"]\n")
        } else {
            String::new()
        };
        let config = format!("{labels}{}", fixtures::worker_config(&fixtures::python3()));
        stack.spawn_worker_with(n, &config, &[])?;
    }
    wait_for_workers(&stack, WORKERS).await?;
    let (started_ms, _) = sequential_submits(&stack, "route", |i, body| {
        if pools {
            body["requires"] = serde_json::json!([format!("pool={}", i % WORKERS)]);
        }
    })
    .await?;
    drop(stack);
    Ok(summarize(&started_ms))
}

pub async fn wait_for_workers(stack: &Stack, n: usize) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, page) = stack.get("/api/workers").await?;
        if page["workers"].as_array().map_or(0, Vec::len) >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{n} workers never registered: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The CPU of idle workers over `IDLE_WINDOW`: heartbeats (every 5 s) and
/// an idle pull; as % of one core, per worker.
async fn idle_worker_cpu() -> Result<(f64, Vec<Row>)> {
    let stack = Stack::start(Services::all(WORKERS)).await?;
    wait_for_workers(&stack, WORKERS).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let workers: Vec<(String, u32)> = stack
        .processes()
        .into_iter()
        .filter(|(name, _)| name.starts_with("worker-"))
        .collect();
    let meter = CpuMeter::start(workers.clone());
    let before: f64 = workers
        .iter()
        .map(|(_, pid)| procfs::cpu_seconds(*pid))
        .sum();
    tokio::time::sleep(IDLE_WINDOW).await;
    let after: f64 = workers
        .iter()
        .map(|(_, pid)| procfs::cpu_seconds(*pid))
        .sum();
    let seconds = after - before;
    let rows = meter.rows(", idle");
    drop(stack);
    let per_worker = seconds / workers.len().max(1) as f64;
    Ok((per_worker / IDLE_WINDOW.as_secs_f64() * 100.0, rows))
}
