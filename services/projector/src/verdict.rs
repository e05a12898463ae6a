//! A queue's verdict: the one word a person (or a CI job) wants from a queue
//! that ended. Pure; decided once, when the queue becomes terminal. The
//! only place that decides it: the CLI's exit codes and the dashboard read
//! the word.

use testarena_events::{over_budget, FinalStatus, FirmwareSize, SizeBudget, TaskResult};

use crate::view::TaskView;

/// The verdict's word, and why a finished queue whose tasks passed still
/// failed (its firmware is over its profile's size budget).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub word: &'static str,
    pub reason: Option<String>,
}

/// `passed` only if the queue finished, every task passed (`PASS`, or
/// `FLAKY`: it passed on a retry) or had its failure excused by a
/// quarantine, and its firmware fits its budget: a queue of skipped or
/// cancelled tasks did not pass. `firmware`: the measured sizes and the
/// profile's budget, when there are both.
pub(crate) fn verdict(
    status: FinalStatus,
    tasks: &[TaskView],
    firmware: Option<(&FirmwareSize, &SizeBudget)>,
) -> Verdict {
    let over = match status {
        FinalStatus::Finished => firmware.and_then(|(size, budget)| over_budget(size, budget)),
        FinalStatus::Error | FinalStatus::Cancelled => None,
    };
    let word = match status {
        FinalStatus::Error => "error",
        FinalStatus::Cancelled => "cancelled",
        FinalStatus::Finished if over.is_none() && tasks.iter().all(passed) => "passed",
        FinalStatus::Finished => "failed",
    };
    Verdict { word, reason: over }
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
        assert_eq!(
            verdict(FinalStatus::Finished, &[pass(), pass()], None).word,
            "passed"
        );
        for other in [Some("FAIL"), Some("TIMEOUT"), Some("ERROR"), None] {
            assert_eq!(
                verdict(FinalStatus::Finished, &[pass(), task(other)], None).word,
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
        assert_eq!(verdict(FinalStatus::Finished, &tasks, None).word, "passed");
        assert_eq!(
            verdict(FinalStatus::Finished, &[task(Some("FAIL"))], None).word,
            "failed"
        );
    }

    #[test]
    fn error_and_cancelled_are_their_own_verdicts_whatever_the_tasks() {
        let pass = [task(Some("PASS"))];
        assert_eq!(verdict(FinalStatus::Error, &pass, None).word, "error");
        assert_eq!(
            verdict(FinalStatus::Cancelled, &pass, None).word,
            "cancelled"
        );
    }

    #[test]
    fn a_firmware_over_its_budget_fails_a_queue_whose_tasks_passed_and_says_why() {
        let size = FirmwareSize {
            text: 1000,
            data: 30,
            bss: 70,
        };
        let budget = SizeBudget {
            flash_bytes: Some(1000),
            ram_bytes: None,
        };
        let tasks = [task(Some("PASS"))];
        let over = verdict(FinalStatus::Finished, &tasks, Some((&size, &budget)));
        assert_eq!(over.word, "failed");
        assert_eq!(over.reason.as_deref(), Some("flash 103 % of budget"));
        let roomy = SizeBudget {
            flash_bytes: Some(2000),
            ram_bytes: Some(100),
        };
        let fits = verdict(FinalStatus::Finished, &tasks, Some((&size, &roomy)));
        assert_eq!((fits.word, fits.reason), ("passed", None));
        let error = verdict(FinalStatus::Error, &tasks, Some((&size, &budget)));
        assert_eq!((error.word, error.reason), ("error", None));
    }
}
