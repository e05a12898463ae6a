//! `testarena submit FILE [--wait]`: usable as a CI step.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use testarena_events::{QueueStatus, QueueView, TaskResult};

use super::api_client::{ApiClient, ClientError, Submitted};
use super::{colour, follow, render};

/// How `submit` runs: `wait` follows the queue to its end; `strict` makes
/// a `FLAKY` task fail it.
pub struct SubmitOptions {
    pub wait: bool,
    pub json: bool,
    pub strict: bool,
}

pub async fn run(
    client: &ApiClient,
    file: &Path,
    options: SubmitOptions,
) -> Result<ExitCode, ClientError> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| ClientError::Usage(format!("reading stdin: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| ClientError::Usage(format!("reading {}: {e}", file.display())))?
    };
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("{} is not valid JSON: {e}", file.display())))?;
    let submitted = client.submit(&body).await?;
    report(client, submitted, options).await
}

/// Says which queue was made (and where to see it), then prints its id or
/// view, or with `wait` follows its log to the end: `submit` and `rerun`.
pub async fn report(
    client: &ApiClient,
    submitted: Submitted,
    options: SubmitOptions,
) -> Result<ExitCode, ClientError> {
    let SubmitOptions { wait, json, strict } = options;
    let (id, note, view) = match submitted {
        Submitted::View { view, existing } => {
            let note = if existing { " (already submitted)" } else { "" };
            (view.id.clone(), note, Some(view))
        }
        Submitted::Accepted { id } => (id, " (accepted; the view is catching up)", None),
    };
    eprintln!("queue {id}{note}: {}", client.dashboard_url(&id));
    if !wait {
        match view {
            Some(view) if json => println!(
                "{}",
                serde_json::to_string_pretty(&view).unwrap_or_default()
            ),
            _ => println!("{id}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let view = follow::print_log(client, &id, true, true).await?;
    eprint!("{}", colour::for_stderr(render::queue_detail(&view)));
    Ok(exit_code(&view, strict))
}

/// `submit --wait` and `status`: 0 when the queue [`passed`]; 4 while it
/// is `Waiting` or `Running` (not ended, so neither passed nor failed); 1
/// when it ended any other way (a failed task, `Error`, `Cancelled`).
pub fn exit_code(view: &QueueView, strict: bool) -> ExitCode {
    ExitCode::from(exit_number(view, strict))
}

/// Exit code of a queue not ended yet.
pub const NOT_ENDED: u8 = 4;

pub(super) fn exit_number(view: &QueueView, strict: bool) -> u8 {
    if matches!(view.status, QueueStatus::Waiting | QueueStatus::Running) {
        NOT_ENDED
    } else if passed(view, strict) {
        0
    } else {
        1
    }
}

/// A queue passes when its verdict (the projector's, the one place that
/// decides it: tasks, quarantines, the size budget) is `passed`, and, when
/// `strict`, no task is `FLAKY`.
pub fn passed(view: &QueueView, strict: bool) -> bool {
    view.status == QueueStatus::Finished
        && view.verdict.as_deref() == Some("passed")
        && !(strict
            && view
                .tasks
                .iter()
                .any(|t| t.result == Some(TaskResult::Flaky)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: &str, tasks: &[(&str, bool)]) -> QueueView {
        let verdict = verdict_of(status, tasks);
        let tasks: Vec<Value> = tasks
            .iter()
            .map(|(result, quarantined)| {
                serde_json::json!({
                    "id": "t", "scenario": "t.sh", "timeout_s": null, "status": "Finished",
                    "result": result, "exit_code": null, "duration_ms": null, "started_at": null,
                    "finished_at": null, "message": null, "junit": null, "quarantined": quarantined
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "id": "q", "status": status, "source": {"repo": "/r", "ref": "main"},
            "commit": null, "profile": null, "attempt": 1, "worker": null,
            "submitted_at": "t", "started_at": null, "finished_at": null, "reason": null,
            "verdict": verdict, "cancel_requested": false,
            "counts": {"total": 0, "waiting": 0, "running": 0, "pass": 0, "fail": 0,
                       "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
            "stages": [], "tasks": tasks
        }))
        .unwrap()
    }

    /// What the projector would say of these (verdict.rs decides it).
    fn verdict_of(status: &str, tasks: &[(&str, bool)]) -> Option<&'static str> {
        let passed = tasks
            .iter()
            .all(|(r, q)| *q || ["PASS", "FLAKY"].contains(r));
        match status {
            "Finished" if passed => Some("passed"),
            "Finished" => Some("failed"),
            "Error" => Some("error"),
            "Cancelled" => Some("cancelled"),
            _ => None,
        }
    }

    #[test]
    fn a_queue_over_its_size_budget_fails_though_its_tasks_passed() {
        let mut over = view("Finished", &[("PASS", false)]);
        over.verdict = Some("failed".into());
        over.reason = Some("flash 103 % of budget".into());
        assert!(!passed(&over, false));
        assert_eq!(exit_number(&over, false), 1);
    }

    #[test]
    fn flaky_passes_unless_strict_and_a_quarantined_failure_passes() {
        let flaky = view("Finished", &[("PASS", false), ("FLAKY", false)]);
        assert!(passed(&flaky, false));
        assert!(!passed(&flaky, true), "--strict");
        assert!(passed(&view("Finished", &[("FAIL", true)]), true));
        assert!(!passed(&view("Finished", &[("FAIL", false)]), false));
        assert!(!passed(&view("Running", &[("PASS", false)]), false));
        assert!(!passed(&view("Error", &[("PASS", false)]), false));
    }

    #[test]
    fn a_queue_not_ended_has_its_own_exit_code() {
        assert_eq!(exit_number(&view("Finished", &[("PASS", false)]), false), 0);
        assert_eq!(exit_number(&view("Finished", &[("FAIL", false)]), false), 1);
        for ended in ["Error", "Cancelled"] {
            assert_eq!(exit_number(&view(ended, &[]), false), 1, "{ended}");
        }
        for going in ["Waiting", "Running"] {
            assert_eq!(exit_number(&view(going, &[]), false), NOT_ENDED, "{going}");
        }
    }
}
