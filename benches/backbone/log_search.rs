//! Logs of any size: one queue's log of 1,000,000 lines goes through the
//! logs stream and the projector into `queue_log.txt`, then
//! `GET /api/queue/{id}/log/search` (the whole log scanned each time) and
//! `GET /api/queue/{id}/log/lines` (a range by number) are timed through
//! the gateway, each p99 against its budget.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use async_nats::jetstream;
use serde_json::json;
use testarena_events::{ArenaNames, Event, LogBatch, LogLine, LogStream, QueueId, WIRE_VERSION};

use crate::report::Row;
use crate::stack::{Services, Stack};
use crate::stats::summarize;

const QUEUE: &str = "log-million";
const LINES: usize = 1_000_000;
const PER_BATCH: usize = 1_000;
const REQUESTS: usize = 50;

pub async fn log_search() -> Result<Vec<Row>> {
    let stack = Stack::start(Services::all(0)).await?;
    let filling = Instant::now();
    let bytes = publish_log(&stack).await?;
    wait_for_lines(&stack, LINES as u64, Duration::from_secs(600)).await?;
    let folded = filling.elapsed().as_secs_f64();
    println!("  {LINES} lines ({bytes} bytes) stored in {folded:.1} s");

    let base = format!("/api/queue/{QUEUE}/log");
    // Each search reads the whole file: one that finds nothing, the first
    // line, a line near the end, and a regular expression.
    let searches = [
        format!("{base}/search?q=no%20such%20text"),
        format!("{base}/search?q=step%200000001%20"),
        format!("{base}/search?q=step%200999990%20"),
        format!("{base}/search?q=%5Ereading%20%5Cd%2B%20of%20sensor%209&regex=true"),
    ];
    let search = stack
        .time_gets(REQUESTS, 3, |i| searches[i % searches.len()].clone())
        .await?;
    let lines = stack
        .time_gets(REQUESTS, 3, |i| {
            format!(
                "{base}/lines?from_line={}&limit=400",
                1 + (i * 19_997) % LINES
            )
        })
        .await?;
    let (search, lines) = (summarize(&search), summarize(&lines));
    Ok(vec![
        Row::at_most("log search, 1,000,000 lines, p99", search.p99, "ms", 300.0),
        Row::info("log search, 1,000,000 lines, p50", search.p50, "ms"),
        Row::at_most("400 lines by number, p99", lines.p99, "ms", 300.0),
        Row::info("400 lines by number, p50", lines.p50, "ms"),
        Row::info("log size", bytes as f64 / 1e6, "MB"),
        Row::info("publish + projector fold, wall time", folded, "s"),
    ])
}

/// The queue's `submitted`, then its log in batches; the log's size in bytes.
async fn publish_log(stack: &Stack) -> Result<u64> {
    let js = jetstream::new(stack.nats_client().await?);
    let names = ArenaNames::default();
    let queue_id = QueueId::parse(QUEUE)?;
    let submitted = Event::from_json(
        json!({
            "v": WIRE_VERSION, "queue_id": QUEUE, "at": testarena_events::now_rfc3339(),
            "type": "submitted", "source": {"repo": "https://git.example/fw.git", "ref": "main"},
            "tasks": [{"id": "soak", "scenario": "soak.scn"}],
        })
        .to_string()
        .as_bytes(),
    )?;
    js.publish(
        names.event_subject(&queue_id, submitted.body.kind()),
        submitted.to_json().into(),
    )
    .await?
    .await?;
    let subject = names.log_subject(&queue_id);
    let mut acks = Vec::new();
    let mut bytes = 0;
    for first in (0..LINES).step_by(PER_BATCH) {
        let batch = batch(&queue_id, first);
        bytes += batch
            .lines
            .iter()
            .map(|l| l.render(None).len() as u64)
            .sum::<u64>();
        acks.push(js.publish(subject.clone(), batch.to_json().into()).await?);
        if acks.len() >= 64 {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks {
        ack.await?;
    }
    Ok(bytes)
}

/// Lines `first..first + PER_BATCH` of a soak test's console, about 90 bytes each.
fn batch(queue_id: &QueueId, first: usize) -> LogBatch {
    let lines = (first..first + PER_BATCH)
        .map(|n| {
            let text = format!(
                "reading {} of sensor {} ok, step {:07} heap free {}",
                n * 7 % 1000,
                n % 13,
                n + 1,
                n % 65_536
            );
            LogLine::new(n as u64, "task:soak".into(), LogStream::Stdout, text)
        })
        .collect();
    LogBatch {
        v: WIRE_VERSION,
        queue_id: queue_id.clone(),
        attempt: 1,
        shard: None,
        lines,
    }
}

async fn wait_for_lines(stack: &Stack, lines: u64, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let path = format!("/api/queue/{QUEUE}/log/lines?from_line={lines}&limit=1");
    loop {
        if let Ok((200, page)) = stack.get(&path).await {
            if page["total_lines"].as_u64() >= Some(lines) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("the projector did not store {lines} lines within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
