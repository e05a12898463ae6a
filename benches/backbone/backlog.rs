//! A nightly backlog: `testarena up` with its one worker drained, N
//! trivial queues submitted by 8 clients, the list's first page read, then
//! the worker readmitted and the backlog drained. At 1,000, 10,000 and
//! 100,000 waiting (`TESTARENA_BENCH_BACKLOG_SIZES` picks others), side by
//! side: submit rate and CPU per submit, drain-and-run rate and CPU per
//! queue, each held to within 20 % of the 1,000 figure, and the latency of
//! `GET /api/queues?per_page=50`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use tokio::task::JoinSet;

use crate::fixtures::{queue_body, GitRepo};
use crate::procfs;
use crate::report::Row;
use crate::stack::Stack;
use crate::stats::summarize;

const CLIENTS: usize = 8;
/// The worker `Stack::up` names, and the profile its queues run.
const UP_WORKER: &str = "up";
const PROFILE: &str = "trivial";

/// One size's figures.
struct Figures {
    submits_per_s: f64,
    cpu_ms_per_submit: f64,
    runs_per_s: f64,
    cpu_ms_per_queue: f64,
    list_p50_ms: f64,
    list_p99_ms: f64,
    refused: usize,
}

pub async fn backlog() -> Result<Vec<Row>> {
    let sizes = sizes()?;
    let repo = GitRepo::new(&[("noop.scn", "")])?;
    let mut rows = Vec::new();
    let mut base: Option<Figures> = None;
    for size in sizes {
        let figures = backlog_of(size, &repo.url()).await?;
        rows.extend(rows_of(size, &figures, base.as_ref()));
        base.get_or_insert(figures);
    }
    Ok(rows)
}

fn sizes() -> Result<Vec<usize>> {
    let Ok(list) = std::env::var("TESTARENA_BENCH_BACKLOG_SIZES") else {
        return Ok(vec![1_000, 10_000, 100_000]);
    };
    list.split(',')
        .map(|s| s.trim().parse().context("TESTARENA_BENCH_BACKLOG_SIZES"))
        .collect()
}

/// The rows of one size: the first size's figures are the base the
/// others are held to (submits/s and queues/s ≥ 80 %, CPU ≤ 120 % of it).
fn rows_of(size: usize, f: &Figures, base: Option<&Figures>) -> Vec<Row> {
    let at = |what: &str| format!("{what}, {size} waiting");
    let rate = |what: &str, value: f64, of: fn(&Figures) -> f64| match base {
        Some(b) => Row::at_least(at(what), value, "/s", of(b) * 0.8),
        None => Row::info(at(what), value, "/s"),
    };
    let cpu = |what: &str, value: f64, of: fn(&Figures) -> f64| match base {
        Some(b) => Row::at_most(at(what), value, "ms", of(b) * 1.2),
        None => Row::info(at(what), value, "ms"),
    };
    vec![
        rate("submits/s, 8 clients", f.submits_per_s, |b| b.submits_per_s),
        cpu("CPU per submit, whole stack", f.cpu_ms_per_submit, |b| {
            b.cpu_ms_per_submit
        }),
        rate("drained and run, queues/s", f.runs_per_s, |b| b.runs_per_s),
        cpu("CPU per queue run, whole stack", f.cpu_ms_per_queue, |b| {
            b.cpu_ms_per_queue
        }),
        Row::info(at("GET /api/queues?per_page=50 p50"), f.list_p50_ms, "ms"),
        Row::info(at("GET /api/queues?per_page=50 p99"), f.list_p99_ms, "ms"),
        Row::info(at("submits not answered 201"), f.refused as f64, ""),
    ]
}

async fn backlog_of(size: usize, repo: &str) -> Result<Figures> {
    let stack = Arc::new(Stack::up().await?);
    wait_for_worker(&stack, UP_WORKER).await?;
    worker_action(&stack, &format!("/api/workers/{UP_WORKER}/drain")).await?;
    let cpu = stack_cpu_seconds(&stack);
    let started = Instant::now();
    let refused = submit_many(&stack, repo, "bl", size, CLIENTS).await?;
    let submit_s = started.elapsed().as_secs_f64();
    let submit_cpu = stack_cpu_seconds(&stack) - cpu;
    let list = summarize(
        &stack
            .time_gets(50, 5, |_| "/api/queues?per_page=50".to_owned())
            .await?,
    );
    let cpu = stack_cpu_seconds(&stack);
    let started = Instant::now();
    let readmit = format!("/api/workers/{UP_WORKER}/readmit?profile={PROFILE}");
    worker_action(&stack, &readmit).await?;
    wait_all_ran(&stack, Duration::from_secs(3600)).await?;
    let run_s = started.elapsed().as_secs_f64();
    let run_cpu = stack_cpu_seconds(&stack) - cpu;
    let ran = size - refused;
    Ok(Figures {
        submits_per_s: ran as f64 / submit_s,
        cpu_ms_per_submit: submit_cpu * 1e3 / ran.max(1) as f64,
        runs_per_s: ran as f64 / run_s,
        cpu_ms_per_queue: run_cpu * 1e3 / ran.max(1) as f64,
        list_p50_ms: list.p50,
        list_p99_ms: list.p99,
        refused,
    })
}

/// Submits `total` trivial queues from `clients` keep-alive clients, as
/// fast as they are answered; how many were not answered 201.
pub async fn submit_many(
    stack: &Arc<Stack>,
    repo: &str,
    tag: &str,
    total: usize,
    clients: usize,
) -> Result<usize> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (stack, next, repo, tag) =
            (stack.clone(), next.clone(), repo.to_owned(), tag.to_owned());
        tasks.spawn(async move {
            let mut refused = 0;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return refused;
                }
                let body = queue_body(&format!("{tag}-{n}"), &repo, PROFILE, &[("t", "noop.scn")]);
                if !matches!(stack.submit(&body).await, Ok((201, _))) {
                    refused += 1;
                }
            }
        });
    }
    let mut refused = 0;
    while let Some(joined) = tasks.join_next().await {
        refused += joined.context("a submitting client panicked")?;
    }
    Ok(refused)
}

/// Waits until no queue waits or runs.
pub async fn wait_all_ran(stack: &Stack, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut left = 0;
        for status in ["Waiting", "Running"] {
            let path = format!("/api/queues?status={status}&per_page=1");
            let (_, page) = stack.get(&path).await?;
            let total = page["total"].as_u64();
            left += total.with_context(|| format!("GET {path} has no total: {page}"))?;
        }
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{left} queues still waiting or running after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `POST` a drain or readmit; anything but a success is an error.
pub async fn worker_action(stack: &Stack, path: &str) -> Result<()> {
    let response = stack
        .http
        .post(format!("{}{path}", stack.base))
        .send()
        .await
        .with_context(|| format!("POST {path}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("POST {path} answered {status}: {}", response.text().await?);
    }
    Ok(())
}

/// Waits until the registry lists worker `id` as taking queues.
pub async fn wait_for_worker(stack: &Stack, id: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = stack.get("/api/workers").await?;
        let listed = page["workers"]
            .as_array()
            .is_some_and(|all| all.iter().any(|w| w["id"] == id));
        if listed {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("worker {id} never registered: {page}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// CPU seconds of every process of the stack so far, with the children
/// each reaped (the tasks, git).
pub fn stack_cpu_seconds(stack: &Stack) -> f64 {
    stack
        .processes()
        .iter()
        .map(|(_, pid)| procfs::cpu_seconds(*pid) + procfs::reaped_cpu_seconds(*pid))
        .sum()
}
