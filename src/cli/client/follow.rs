//! Prints a queue's log, and with `follow` keeps polling until the queue
//! ends, showing progress (task i of N) on stderr.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::api_client::{ApiClient, ClientError};

const POLL: Duration = Duration::from_millis(300);

/// Returns the final queue view when following, the current one otherwise.
pub async fn print_log(
    client: &ApiClient,
    id: &str,
    follow: bool,
    progress: bool,
) -> Result<Value, ClientError> {
    let mut offset = 0;
    let mut last_progress = String::new();
    loop {
        // Read the status first: a log read after a terminal status is complete.
        let view = client.queue(id).await?;
        loop {
            let (text, next) = client.log(id, offset).await?;
            if text.is_empty() {
                break;
            }
            print!("{text}");
            let _ = std::io::stdout().flush();
            offset = next;
        }
        let status = view["status"].as_str().unwrap_or("");
        let terminal = matches!(status, "Finished" | "Error" | "Cancelled");
        if !follow || terminal {
            return Ok(view);
        }
        if progress {
            let line = progress_line(&view);
            if line != last_progress {
                eprintln!("{line}");
                last_progress = line;
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

fn progress_line(view: &Value) -> String {
    let tasks = view["tasks"].as_array().cloned().unwrap_or_default();
    let done = tasks
        .iter()
        .filter(|t| !matches!(t["status"].as_str(), Some("Waiting") | Some("Running")))
        .count();
    let running = tasks
        .iter()
        .position(|t| t["status"] == "Running")
        .map(|i| {
            format!(
                ", running task {} of {}: {}",
                i + 1,
                tasks.len(),
                tasks[i]["id"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default();
    format!(
        "== {} {} ({done}/{} tasks done{running})",
        view["id"].as_str().unwrap_or(""),
        view["status"].as_str().unwrap_or(""),
        tasks.len()
    )
}
