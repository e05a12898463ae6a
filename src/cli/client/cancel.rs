//! `testarena cancel ID [--wait]`: says what it did ("cancel requested;
//! fw-1 was Running") and, with `--wait`, waits until the queue has ended.

use std::process::ExitCode;
use std::time::Duration;

use testarena_events::QueueView;

use super::api_client::{ApiClient, ClientError};
use super::render;

const POLL: Duration = Duration::from_millis(300);

pub async fn run(client: &ApiClient, id: &str, wait: bool) -> Result<ExitCode, ClientError> {
    let before = client.queue(id).await?;
    if before.is_terminal() {
        println!("{}", already_ended(&before));
        return Ok(ExitCode::SUCCESS);
    }
    let after = client.cancel(id).await?;
    println!("{}", requested(&before, &after));
    if !wait || after.is_terminal() {
        return Ok(ExitCode::SUCCESS);
    }
    let ended = loop {
        tokio::time::sleep(POLL).await;
        let view = client.queue(id).await?;
        if view.is_terminal() {
            break view;
        }
    };
    println!("{}", ended_as(&ended));
    Ok(ExitCode::SUCCESS)
}

/// Nothing was sent: the queue had already ended.
pub fn already_ended(view: &QueueView) -> String {
    format!(
        "nothing to cancel: {} already ended ({})",
        view.id,
        render::outcome(view)
    )
}

/// What the cancel did, from the queue before and the view it answered.
pub fn requested(before: &QueueView, after: &QueueView) -> String {
    if after.status == "Cancelled" {
        format!("{} cancelled (it was {})", after.id, before.status)
    } else {
        format!("cancel requested; {} was {}", after.id, before.status)
    }
}

/// The line `--wait` ends with.
pub fn ended_as(view: &QueueView) -> String {
    let reason = view
        .reason
        .as_deref()
        .map(|r| format!(" — {r}"))
        .unwrap_or_default();
    format!("{} {}{reason}", view.id, render::outcome(view))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: &str, verdict: Option<&str>) -> QueueView {
        serde_json::from_value(serde_json::json!({
            "id": "fw-1", "status": status, "source": {"repo": "r", "ref": "main"},
            "commit": null, "profile": null, "attempt": 1, "worker": null,
            "submitted_at": "2026-11-25T12:00:00Z", "started_at": null, "finished_at": null,
            "reason": if status == "Cancelled" { Some("cancelled by a user") } else { None },
            "verdict": verdict, "cancel_requested": false,
            "counts": {"total": 0, "waiting": 0, "running": 0, "pass": 0, "fail": 0,
                       "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
            "stages": [], "tasks": []
        }))
        .unwrap()
    }

    #[test]
    fn a_running_queue_gets_a_request_and_says_what_it_was() {
        let before = view("Running", None);
        assert_eq!(
            requested(&before, &view("Running", None)),
            "cancel requested; fw-1 was Running"
        );
    }

    #[test]
    fn a_waiting_queue_is_cancelled_at_once() {
        assert_eq!(
            requested(
                &view("Waiting", None),
                &view("Cancelled", Some("cancelled"))
            ),
            "fw-1 cancelled (it was Waiting)"
        );
    }

    #[test]
    fn an_ended_queue_is_left_alone_and_wait_says_how_it_ended() {
        assert_eq!(
            already_ended(&view("Finished", Some("failed"))),
            "nothing to cancel: fw-1 already ended (Finished, failed)"
        );
        assert_eq!(
            ended_as(&view("Cancelled", Some("cancelled"))),
            "fw-1 Cancelled — cancelled by a user"
        );
    }
}
