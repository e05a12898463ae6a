//! Live log scenarios: how fast a printed line reaches a NATS subscriber and
//! an SSE client, how batches grow under a flood, and what 100 SSE clients
//! cost the gateway.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use testarena_events::LogBatch;
use tokio::task::JoinSet;

use crate::fixtures::{queue_body, GitRepo};
use crate::nats_tap::{wall_ns, Tap};
use crate::procfs;
use crate::report::Row;
use crate::sse::SseReader;
use crate::stack::{Services, Stack};
use crate::stats::summarize;

const PACED_LINES: usize = 400;

/// Prints its wall clock (ns) every 10 ms, so the worker is idle between
/// lines; waits half a second first so the SSE client is surely following.
const PACED_PY: &str = "import time
time.sleep(0.5)
for _ in range(400):
    print('stamp', time.time_ns(), flush=True)
    time.sleep(0.01)
";

const FLOOD_LINES: usize = 300_000;

/// Latency of a printed line to a core-NATS subscriber and to an SSE
/// client, then the batch sizes a flooding task gets.
pub async fn log_latency() -> Result<Vec<Row>> {
    let stack = Stack::start(Services::all(1)).await?;
    let repo = GitRepo::new(&[
        ("paced.py", PACED_PY),
        ("flood.sh", &format!("seq 1 {FLOOD_LINES}\n")),
        ("noop.scn", ""),
    ])?;
    let client = stack.nats_client().await?;
    // Warm-up: the interpreter's files in the page cache, the mirror.
    stack
        .create(&queue_body(
            "ll-warm",
            &repo.url(),
            "py",
            &[("p", "paced.py")],
        ))
        .await?;
    stack
        .wait_passed("ll-warm", Duration::from_secs(60))
        .await?;

    let mut tap = Tap::subscribe(&client, &["arena.logs.ll-paced".into()]).await?;
    stack
        .create(&queue_body(
            "ll-paced",
            &repo.url(),
            "py",
            &[("p", "paced.py")],
        ))
        .await?;
    let url = format!("{}/api/queue/ll-paced/log/stream", stack.base);
    let mut sse = SseReader::open(&stack.http, &url).await?;
    let following_since = wall_ns();
    let sse_task = tokio::spawn(async move {
        let mut latencies = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Ok(Some(event)) = sse.next_before(deadline).await {
            match event.event.as_str() {
                "log" => {
                    let Ok(data) = serde_json::from_str::<serde_json::Value>(&event.data) else {
                        continue;
                    };
                    for line in data["lines"].as_array().into_iter().flatten() {
                        if let Some(stamp) = stamp(line["text"].as_str().unwrap_or_default()) {
                            // Lines from before the client followed are replay.
                            if stamp > following_since {
                                latencies.push(event.wall_ns.saturating_sub(stamp) as f64 / 1e6);
                            }
                        }
                    }
                }
                "end" => break,
                _ => {}
            }
        }
        latencies
    });

    let mut nats_ms = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while nats_ms.len() < PACED_LINES {
        let Some(received) = tap.next_before(deadline).await else {
            break;
        };
        let Ok(batch) = LogBatch::from_json(&received.message.payload) else {
            continue;
        };
        for line in &batch.lines {
            if let Some(stamp) = stamp(&line.text) {
                nats_ms.push(received.wall_ns.saturating_sub(stamp) as f64 / 1e6);
            }
        }
    }
    let sse_ms = sse_task.await.context("the SSE reader panicked")?;
    drop(tap);
    stack
        .wait_passed("ll-paced", Duration::from_secs(60))
        .await?;

    // A flooding task: lines pile up while each batch is published.
    let mut tap = Tap::subscribe(&client, &["arena.logs.ll-flood".into()]).await?;
    stack
        .create(&queue_body(
            "ll-flood",
            &repo.url(),
            "sh",
            &[("f", "flood.sh")],
        ))
        .await?;
    let mut per_batch = Vec::new();
    let mut lines = 0usize;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    while lines < FLOOD_LINES {
        let Some(received) = tap.next_before(deadline).await else {
            break;
        };
        let Ok(batch) = LogBatch::from_json(&received.message.payload) else {
            continue;
        };
        let task_lines = batch
            .lines
            .iter()
            .filter(|l| {
                l.source.starts_with("task:") && l.stream == testarena_events::LogStream::Stdout
            })
            .count();
        if task_lines > 0 {
            first.get_or_insert(received.at);
            last = received.at;
            per_batch.push(task_lines as f64);
            lines += task_lines;
        }
    }
    let flood_seconds = first.map_or(f64::NAN, |f| (last - f).as_secs_f64());

    let nats = summarize(&nats_ms);
    let sse = summarize(&sse_ms);
    let batches = summarize(&per_batch);
    Ok(vec![
        Row::at_most("line → NATS subscriber p50", nats.p50, "ms", 2.0),
        Row::at_most("line → NATS subscriber p99", nats.p99, "ms", 5.0),
        Row::at_most("line → SSE client p99", sse.p99, "ms", 10.0),
        Row::info("line → SSE client p50", sse.p50, "ms"),
        Row::info("line → NATS subscriber max", nats.max, "ms"),
        Row::info("line → SSE client max", sse.max, "ms"),
        Row::info("paced lines seen by NATS (of 400)", nats.n as f64, ""),
        Row::info("paced lines seen by SSE", sse.n as f64, ""),
        Row::info("flood: lines per batch, mean", batches.mean, ""),
        Row::info("flood: lines per batch, p50", batches.p50, ""),
        Row::info("flood: lines per batch, max", batches.max, ""),
        Row::info("flood: batches for 300,000 lines", batches.n as f64, ""),
        Row::info(
            "flood: lines/s at the subscriber",
            lines as f64 / flood_seconds,
            "/s",
        ),
    ])
}

/// The `stamp <ns>` a paced line carries.
fn stamp(text: &str) -> Option<u128> {
    text.strip_prefix("stamp ")?.trim().parse().ok()
}

const CLIENTS: usize = 100;

/// ~2,000 lines/s for about 10 s; a queue worth following.
const BUSY_PY: &str = "import sys, time
for i in range(20000):
    print(f'busy line {i:06d} ' + 'x' * 60)
    if i % 100 == 99:
        sys.stdout.flush()
        time.sleep(0.05)
";

/// 100 SSE clients follow one busy queue from its start; the gateway's
/// resident memory before them and at its highest while they follow.
pub async fn sse_fanout_memory() -> Result<Vec<Row>> {
    let stack = Arc::new(Stack::start(Services::all(1)).await?);
    let repo = GitRepo::new(&[("busy.py", BUSY_PY), ("noop.scn", "")])?;
    let gateway = stack.pid("gateway").context("gateway pid")?;
    // Warm-up: one queue and one SSE client through the gateway.
    stack
        .create(&queue_body(
            "fan-warm",
            &repo.url(),
            "trivial",
            &[("t", "noop.scn")],
        ))
        .await?;
    stack
        .wait_passed("fan-warm", Duration::from_secs(60))
        .await?;
    count_lines(&stack, "fan-warm").await?;

    stack
        .create(&queue_body("fan", &repo.url(), "py", &[("b", "busy.py")]))
        .await?;
    stack
        .wait_view("fan", Duration::from_secs(60), |v| {
            v["tasks"][0]["status"] == "Running"
        })
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = procfs::rss_mb(gateway);
    let cpu_before = procfs::cpu_seconds(gateway);

    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(procfs::rss_mb(gateway));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        })
    };
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let stack = stack.clone();
        clients.spawn(async move { count_lines(&stack, "fan").await });
    }
    let mut received = Vec::new();
    let mut failures = 0usize;
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(Ok(count)) => received.push(count),
            _ => failures += 1,
        }
    }
    let following = started.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.context("the sampler panicked")?;
    let cpu = procfs::cpu_seconds(gateway) - cpu_before;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = procfs::rss_mb(gateway);
    stack.wait_passed("fan", Duration::from_secs(60)).await?;
    let lines: Vec<f64> = received.iter().map(|(l, _)| *l as f64).collect();
    let ended = received.iter().filter(|(_, ended)| *ended).count();
    let lines = summarize(&lines);
    if failures > 0 {
        println!("  {failures} SSE clients failed");
    }
    Ok(vec![
        Row::at_most(
            "gateway VmRSS delta with 100 SSE clients (peak − before)",
            peak - baseline,
            "MB",
            50.0,
        ),
        Row::info("gateway VmRSS before the clients", baseline, "MB"),
        Row::info("gateway VmRSS peak while they follow", peak, "MB"),
        Row::info("gateway VmRSS 1 s after they left", after, "MB"),
        Row::info("gateway VmHWM", procfs::hwm_mb(gateway), "MB"),
        Row::info("gateway CPU while they follow", cpu, "s"),
        Row::info("clients that got `end`", ended as f64, ""),
        Row::info(
            "task lines per client, min (of 20,000)",
            lines_min(&received),
            "",
        ),
        Row::info("task lines per client, max", lines.max, ""),
        Row::info("following time", following, "s"),
    ])
}

fn lines_min(received: &[(usize, bool)]) -> f64 {
    received
        .iter()
        .map(|(l, _)| *l as f64)
        .fold(f64::NAN, f64::min)
}

/// Follows a queue's SSE stream to its `end`; (task lines, got `end`).
/// Counts without parsing the JSON, so 100 of them stay cheap.
async fn count_lines(stack: &Stack, id: &str) -> Result<(usize, bool)> {
    let url = format!("{}/api/queue/{id}/log/stream", stack.base);
    let mut sse = SseReader::open(&stack.http, &url).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lines = 0;
    loop {
        match sse.next_before(deadline).await? {
            None => return Ok((lines, false)),
            Some(event) if event.event == "end" => return Ok((lines, true)),
            Some(event) if event.event == "log" => {
                lines += event.data.matches("busy line ").count();
            }
            Some(_) => {}
        }
    }
}
