//! `rebuild_snapshot`: what a snapshot saves a rebuild. The events of
//! 1,000,000 complete queue histories (`TESTARENA_BENCH_QUEUES` for another
//! number) go straight into the events stream, 99 % of them before a
//! snapshot of the views and 1 % after; then `--rebuild --from-start` and
//! `--rebuild` (from the snapshot) are timed into empty data dirs. Also the
//! events stream's, the views' and the snapshot's bytes per 10,000 queues.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use async_nats::jetstream;
use futures_util::StreamExt;
use testarena_events::{ensure_streams, ArenaNames, StreamLimits};

use crate::event_backbone::{fill_histories, rebuild_with, INTERLEAVED};
use crate::report::Row;
use crate::stack::Stack;

const DEFAULT_QUEUES: usize = 1_000_000;

/// The queues the scenario publishes: the variable's number, rounded down
/// to whole interleaved groups, at least 100 groups.
fn queue_count() -> usize {
    let wanted = std::env::var("TESTARENA_BENCH_QUEUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_QUEUES);
    (wanted / INTERLEAVED).max(100) * INTERLEAVED
}

pub async fn rebuild_snapshot() -> Result<Vec<Row>> {
    let queues = queue_count();
    let before = (queues / 100 * 99) / INTERLEAVED * INTERLEAVED;
    let stack = Stack::nats_only()?;
    let js = jetstream::new(stack.nats_client().await?);
    let names = ArenaNames::default();
    ensure_streams(&js, &names, &StreamLimits::default())
        .await
        .map_err(|e| anyhow::anyhow!("creating the streams: {e}"))?;
    fill_histories(&js, 0..before).await?;
    let live = stack.dir.path().join("live");
    rebuild_with(&stack, &live, "rebuild-live", &["--from-start"]).await?;
    take_snapshot(&stack, &live).await?;
    let snapshot_bytes = newest_snapshot_bytes(&js, &names).await?;
    fill_histories(&js, before..queues).await?;
    let from_start = rebuild_with(
        &stack,
        &stack.dir.path().join("from-start"),
        "rebuild-from-start",
        &["--from-start"],
    )
    .await?;
    let from_snapshot_dir = stack.dir.path().join("from-snapshot");
    let from_snapshot =
        rebuild_with(&stack, &from_snapshot_dir, "rebuild-from-snapshot", &[]).await?;
    let folders = restore_folders(&stack, &from_snapshot_dir).await?;
    let events_bytes = js
        .get_stream(&names.events_stream)
        .await?
        .info()
        .await?
        .state
        .bytes as f64;
    let views_bytes = std::fs::metadata(from_snapshot_dir.join("views.sqlite"))
        .map(|m| m.len() as f64)
        .unwrap_or(f64::NAN);
    let per_10k = |bytes: f64| bytes / queues as f64 * 10_000.0 / (1 << 20) as f64;
    Ok(vec![
        Row::info("queues in the stream", queues as f64, ""),
        Row::info("queues after the snapshot", (queues - before) as f64, ""),
        Row::info("rebuild from the start: wall time", from_start.wall, "s"),
        Row::info(
            "rebuild from the snapshot: wall time",
            from_snapshot.wall,
            "s",
        ),
        Row::info(
            "then the restored queues' folders, written by the following projector: wall time",
            folders,
            "s",
        ),
        Row::at_least(
            "rebuild from the start ÷ from the snapshot",
            from_start.wall / from_snapshot.wall,
            "x",
            10.0,
        ),
        Row::info(
            "events from the snapshot: applied",
            from_snapshot.logged_events,
            "",
        ),
        Row::info(
            "events stream per 10,000 queues",
            per_10k(events_bytes),
            "MiB",
        ),
        Row::info(
            "views.sqlite per 10,000 queues",
            per_10k(views_bytes),
            "MiB",
        ),
        Row::info("snapshot per 10,000 queues", per_10k(snapshot_bytes), "MiB"),
    ])
}

/// Runs the projector over `data` (caught up already) and stops it
/// cleanly, which stores a snapshot of its views; waits for it to say it
/// follows first, so the stop finds it past its start.
async fn take_snapshot(stack: &Stack, data: &std::path::Path) -> Result<()> {
    let (child, _) = follow_until(
        stack,
        data,
        "projector-snapshot",
        "projector following the streams",
    )
    .await?;
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.wait()
    })
    .await??;
    if !status.success() {
        bail!("the projector exited with {status}");
    }
    Ok(())
}

/// After a rebuild from the snapshot: how long the following projector
/// takes to write the restored queues' folders (in the background, the
/// views already serving). Killed once done: a clean stop would upload
/// another snapshot.
async fn restore_folders(stack: &Stack, data: &std::path::Path) -> Result<f64> {
    let (mut child, took) =
        follow_until(stack, data, "projector-folders", "queue folders restored").await?;
    let _ = child.kill();
    let _ = child.wait();
    Ok(took.as_secs_f64())
}

/// Starts a projector over `data` and waits until its log says `line`.
async fn follow_until(
    stack: &Stack,
    data: &std::path::Path,
    log_name: &str,
    line: &str,
) -> Result<(std::process::Child, Duration)> {
    let mut command = stack.command(&["projector"], log_name)?;
    command.env("TESTARENA_DATA_DIR", data);
    let started = Instant::now();
    let mut child = command.spawn().context("starting the projector")?;
    let deadline = started + Duration::from_secs(1800);
    while !std::fs::read_to_string(stack.log_path(log_name))
        .unwrap_or_default()
        .contains(line)
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the projector did not log {line:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((child, started.elapsed()))
}

/// The size of the newest snapshot in the bucket.
async fn newest_snapshot_bytes(js: &jetstream::Context, names: &ArenaNames) -> Result<f64> {
    let bucket = js
        .get_object_store(&names.snapshots_bucket)
        .await
        .context("opening the snapshots bucket")?;
    let mut list = bucket.list().await?;
    let mut newest: Option<(String, usize)> = None;
    while let Some(info) = list.next().await {
        let info = info?;
        if newest.as_ref().is_none_or(|(name, _)| *name < info.name) {
            newest = Some((info.name, info.size));
        }
    }
    match newest {
        Some((_, size)) => Ok(size as f64),
        None => bail!("the projector stored no snapshot at its clean stop"),
    }
}
