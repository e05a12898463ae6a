//! A queue's verdict: the one word a person (or a CI job) wants from a queue
//! that ended. Pure; decided once, when the queue becomes terminal.

use testarena_events::{FinalStatus, TaskResult};

use crate::view::TaskView;

/// `passed` only if the queue finished and every task passed (`PASS`, or
/// `FLAKY`: it passed on a retry) or had its failure excused by a
/// quarantine: a queue of skipped or cancelled tasks did not pass.
pub(crate) fn verdict(status: FinalStatus, tasks: &[TaskView]) -> &'static str {
    match status {
        FinalStatus::Error => "error",
        FinalStatus::Cancelled => "cancelled",
        FinalStatus::Finished if tasks.iter().all(passed) => "passed",
        FinalStatus::Finished => "failed",
    }
}

fn passed(task: &TaskView) -> bool {
    task.quarantined || task.result.is_some_and(TaskResult::is_pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(result: Option<&str>) -> TaskView {
        serde_json::from_value(serde_json::json!({
            "id": "t", "scenario": "t.scn", "timeout_s": null, "status": "Finished",
            "result": result, "exit_code": null, "duration_ms": null, "started_at": null,
            "finished_at": null, "message": null, "junit": null
        }))
        .unwrap()
    }

    #[test]
    fn a_finished_queue_passed_only_if_every_task_passed() {
        let pass = || task(Some("PASS"));
        assert_eq!(verdict(FinalStatus::Finished, &[pass(), pass()]), "passed");
        for other in [Some("FAIL"), Some("TIMEOUT"), Some("ERROR"), None] {
            assert_eq!(
                verdict(FinalStatus::Finished, &[pass(), task(other)]),
                "failed",
                "{other:?}"
            );
        }
    }

    #[test]
    fn flaky_and_quarantined_failures_do_not_fail_a_queue() {
        let mut excused = task(Some("FAIL"));
        excused.quarantined = true;
        let tasks = [task(Some("PASS")), task(Some("FLAKY")), excused];
        assert_eq!(verdict(FinalStatus::Finished, &tasks), "passed");
        assert_eq!(
            verdict(FinalStatus::Finished, &[task(Some("FAIL"))]),
            "failed"
        );
    }

    #[test]
    fn error_and_cancelled_are_their_own_verdicts_whatever_the_tasks() {
        let pass = [task(Some("PASS"))];
        assert_eq!(verdict(FinalStatus::Error, &pass), "error");
        assert_eq!(verdict(FinalStatus::Cancelled, &pass), "cancelled");
    }
}
