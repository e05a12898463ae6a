//! Prints a queue's log. Without `follow`: the log as stored now. With it:
//! the SSE log stream from the first batch until its `end`, which the
//! gateway sends only after the last stored batch — so the output is the
//! whole log, even though the projector applies views and logs
//! independently (a terminal view does not mean the log file is complete).
//! A dropped connection resumes after the last batch printed.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;
use testarena_events::{LogLine, QueueStatus, QueueView};

use super::api_client::{ApiClient, ClientError};
use super::sse::SseParser;

const RETRY_AFTER: Duration = Duration::from_millis(500);
const MAX_RETRIES: u32 = 10;

/// `testarena logs ID [--follow]`: the log, and the exit code
/// [`followed_exit_code`] gives when following (0 otherwise).
pub async fn logs(client: &ApiClient, id: &str, follow: bool) -> Result<ExitCode, ClientError> {
    let view = print_log(client, id, follow, false).await?;
    let code = if follow { followed_exit_code(&view) } else { 0 };
    Ok(ExitCode::from(code))
}

/// `logs --follow`'s exit code once the queue ended: 0 when it ran to its
/// end (`Finished`, whatever its verdict: the log is whole), 1 when it was
/// `Cancelled` or ended in `Error` (the log stops where the run was cut).
pub fn followed_exit_code(view: &QueueView) -> u8 {
    match view.status {
        QueueStatus::Cancelled | QueueStatus::Error => 1,
        _ => 0,
    }
}

/// Returns the final queue view when following, the current one otherwise.
pub async fn print_log(
    client: &ApiClient,
    id: &str,
    follow: bool,
    progress: bool,
) -> Result<QueueView, ClientError> {
    if follow {
        follow_to_end(client, id, progress).await
    } else {
        print_stored(client, id).await
    }
}

async fn print_stored(client: &ApiClient, id: &str) -> Result<QueueView, ClientError> {
    let view = client.queue(id).await?;
    let mut offset = 0;
    loop {
        let (text, next) = client.log(id, offset).await?;
        if text.is_empty() {
            return Ok(view);
        }
        print!("{text}");
        offset = next;
    }
}

/// Where a followed stream has got to.
#[derive(Default)]
struct Position {
    last_event_id: Option<u64>,
    progress: String,
}

async fn follow_to_end(
    client: &ApiClient,
    id: &str,
    progress: bool,
) -> Result<QueueView, ClientError> {
    let mut position = Position::default();
    let mut retries = 0;
    loop {
        let before = position.last_event_id;
        let dropped = match read_stream(client, id, progress, &mut position).await {
            Ok(Some(view)) => return Ok(view),
            Ok(None) => ClientError::Unreachable {
                server: client.base().to_owned(),
                message: "the log stream closed before its end".into(),
            },
            Err(e @ ClientError::Unreachable { .. }) => e,
            Err(e) => return Err(e),
        };
        // Progress since the last try earns the retries back.
        retries = if position.last_event_id != before {
            1
        } else {
            retries + 1
        };
        if retries > MAX_RETRIES {
            return Err(dropped);
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

/// Reads one connection of the stream; `Some(view)` once `end` arrived.
async fn read_stream(
    client: &ApiClient,
    id: &str,
    progress: bool,
    position: &mut Position,
) -> Result<Option<QueueView>, ClientError> {
    let mut response = client.log_stream(id, position.last_event_id).await?;
    let mut parser = SseParser::default();
    let dropped = |e: reqwest::Error| ClientError::Unreachable {
        server: client.base().to_owned(),
        message: e.to_string(),
    };
    while let Some(chunk) = response.chunk().await.map_err(dropped)? {
        parser.push(&chunk);
        while let Some(event) = parser.next_event() {
            match event.event.as_str() {
                "log" => {
                    print_batch(&event.data);
                    position.last_event_id = event.id.or(position.last_event_id);
                }
                // `null` when the queue was deleted: the read says so (404).
                "end" => match serde_json::from_str(&event.data) {
                    Ok(view) => return Ok(Some(view)),
                    Err(_) => return client.queue(id).await.map(Some),
                },
                _ if progress => show_progress(client, id, position).await,
                _ => {}
            }
        }
    }
    Ok(None)
}

fn print_batch(data: &str) {
    #[derive(Deserialize)]
    struct Batch {
        #[serde(default)]
        shard: Option<u8>,
        lines: Vec<LogLine>,
    }
    if let Ok(batch) = serde_json::from_str::<Batch>(data) {
        let mut out = std::io::stdout().lock();
        for line in &batch.lines {
            let _ = out.write_all(line.render(batch.shard).as_bytes());
        }
        let _ = out.flush();
    }
}

async fn show_progress(client: &ApiClient, id: &str, position: &mut Position) {
    if let Ok(view) = client.queue(id).await {
        let line = progress_line(&view);
        if line != position.progress {
            eprintln!("{line}");
            position.progress = line;
        }
    }
}

fn progress_line(view: &QueueView) -> String {
    let tasks = &view.tasks;
    let done = tasks
        .iter()
        .filter(|t| !matches!(t.status.as_str(), "Waiting" | "Running"))
        .count();
    let running = tasks
        .iter()
        .position(|t| t.status == "Running")
        .map(|i| {
            format!(
                ", running task {} of {}: {}",
                i + 1,
                tasks.len(),
                tasks[i].id
            )
        })
        .unwrap_or_default();
    format!(
        "== {} {} ({done}/{} tasks done{running})",
        view.id,
        view.status,
        tasks.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(status: &str) -> QueueView {
        serde_json::from_value(serde_json::json!({
            "id": "q", "status": status, "source": {"repo": "/r", "ref": "main"},
            "commit": null, "profile": null, "attempt": 1, "worker": null,
            "submitted_at": "t", "started_at": null, "finished_at": null, "reason": null,
            "verdict": null, "cancel_requested": false,
            "counts": {"total": 0, "waiting": 0, "running": 0, "pass": 0, "fail": 0,
                       "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
            "stages": [], "tasks": []
        }))
        .unwrap()
    }

    #[test]
    fn a_followed_log_of_a_cancelled_or_errored_queue_exits_one() {
        assert_eq!(followed_exit_code(&ended("Finished")), 0);
        assert_eq!(followed_exit_code(&ended("Cancelled")), 1);
        assert_eq!(followed_exit_code(&ended("Error")), 1);
    }
}
