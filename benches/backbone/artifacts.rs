//! Artifacts through the Object Store: a 64 MiB artifact's way up (the
//! worker's put, from the build's end to its `artifact_stored` event) and
//! down (`GET /api/queue/{id}/artifacts/{name}` read to its end), and the
//! gateway's memory while it streams a 1 GiB artifact.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::fixtures::{queue_body, GitRepo};
use crate::procfs;
use crate::report::Row;
use crate::stack::{Services, Stack};

const MIB: u64 = 1 << 20;

/// A queue whose build writes `bytes` of random data to `out/a.bin`, run to
/// its end; the worker's caps are raised above it.
async fn stored_artifact(bytes: u64, id: &str) -> Result<(Stack, Value)> {
    let cap = (2 * bytes).to_string();
    let stack = Stack::start(Services::all(1).with_worker_args(&[
        "--artifact-max-file-bytes",
        &cap,
        "--artifact-max-queue-bytes",
        &cap,
    ]))
    .await?;
    let build = format!("mkdir -p out && head -c {bytes} /dev/urandom > out/a.bin\n");
    let repo = GitRepo::new(&[("build.sh", &build)])?;
    stack
        .create(&queue_body(id, &repo.url(), "artifacts", &[("t", "noop")]))
        .await?;
    let view = stack.wait_passed(id, Duration::from_secs(900)).await?;
    if view["artifacts"][0]["size"].as_u64() != Some(bytes) {
        bail!("the artifact was not stored: {view}");
    }
    Ok((stack, view))
}

/// Seconds from the build's `stage_finished` to the `artifact_stored`
/// event: listing, reading, hashing and putting the file.
async fn upload_seconds(stack: &Stack, id: &str) -> Result<f64> {
    let (_, events) = stack.get(&format!("/api/queue/{id}/events")).await?;
    let at = |kind: &str, stage: Option<&str>| -> Result<f64> {
        let event = events["events"]
            .as_array()
            .context("events")?
            .iter()
            .find(|e| e["type"] == kind && stage.is_none_or(|s| e["stage"] == s))
            .with_context(|| format!("no {kind} event"))?;
        let text = event["at"].as_str().context("at")?;
        let time =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)?;
        Ok(time.unix_timestamp_nanos() as f64 / 1e9)
    };
    Ok(at("artifact_stored", None)? - at("stage_finished", Some("build"))?)
}

/// Reads the artifact to its end; calls `sample` every 64 chunks.
async fn download(stack: &Stack, id: &str, mut sample: impl FnMut()) -> Result<(u64, f64)> {
    let url = format!("{}/api/queue/{id}/artifacts/out%2Fa.bin", stack.base);
    let started = Instant::now();
    let mut response = stack.http.get(url).send().await?;
    if !response.status().is_success() {
        bail!("download answered {}", response.status());
    }
    let (mut bytes, mut chunks) = (0u64, 0u64);
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len() as u64;
        chunks += 1;
        if chunks % 64 == 0 {
            sample();
        }
    }
    Ok((bytes, started.elapsed().as_secs_f64()))
}

pub async fn artifact_round_trip() -> Result<Vec<Row>> {
    let bytes = 64 * MIB;
    let (stack, _) = stored_artifact(bytes, "art-64").await?;
    let up = upload_seconds(&stack, "art-64").await?;
    let (got, down) = download(&stack, "art-64", || {}).await?;
    if got != bytes {
        bail!("downloaded {got} of {bytes} bytes");
    }
    let mb = bytes as f64 / procfs::MB;
    Ok(vec![
        Row::at_least(
            "64 MiB artifact up (worker → Object Store)",
            mb / up,
            "MB/s",
            200.0,
        ),
        Row::at_least(
            "64 MiB artifact down (Object Store → gateway → HTTP client)",
            mb / down,
            "MB/s",
            200.0,
        ),
        Row::info("upload time", up * 1000.0, "ms"),
        Row::info("download time", down * 1000.0, "ms"),
    ])
}

pub async fn artifact_stream_memory() -> Result<Vec<Row>> {
    let bytes = 1024 * MIB;
    let (stack, _) = stored_artifact(bytes, "art-1g").await?;
    let gateway = stack.pid("gateway").context("gateway pid")?;
    let hwm_before = procfs::hwm_mb(gateway);
    let mut peak_rss: f64 = procfs::rss_mb(gateway);
    let (got, seconds) = download(&stack, "art-1g", || {
        peak_rss = peak_rss.max(procfs::rss_mb(gateway));
    })
    .await?;
    if got != bytes {
        bail!("downloaded {got} of {bytes} bytes");
    }
    Ok(vec![
        Row::at_most(
            "gateway VmHWM after streaming 1 GiB",
            procfs::hwm_mb(gateway),
            "MB",
            30.0,
        ),
        Row::info(
            "gateway VmRSS, highest sample while streaming",
            peak_rss,
            "MB",
        ),
        Row::info("gateway VmHWM before the download", hwm_before, "MB"),
        Row::info("download rate", bytes as f64 / procfs::MB / seconds, "MB/s"),
    ])
}
