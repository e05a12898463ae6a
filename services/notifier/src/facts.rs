//! What a decision is made from: the event's moment and the views as they
//! stood once the projector had applied it. Plain data, so `decide.rs`
//! is tested without NATS or SQLite.

use testarena_events::{BisectView, QueueView, RunOutcome, TaskResult, TestRun};
use testarena_integrations::NotifyOn;

// One value per message handled: the size of `Queue` beside `Bisect` costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Facts {
    Queue(QueueFacts),
    Bisect(BisectView),
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueFacts {
    pub moment: QueueMoment,
    pub view: QueueView,
    /// Tasks that failed here and passed in their previous run.
    pub new_failures: Vec<String>,
}

/// The queue events the notifier follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMoment {
    Submitted,
    /// The checkout resolved the commit (a queue submitted at a branch
    /// has none before).
    CheckedOut,
    Finished,
}

impl QueueFacts {
    /// The commit its status is about: the resolved one, or the ref when
    /// it already is a whole SHA.
    pub fn commit(&self) -> Option<&str> {
        self.view.commit.as_deref().or_else(|| {
            let git_ref = self.view.source.git_ref.as_str();
            crate::commit_status::is_full_sha(git_ref).then_some(git_ref)
        })
    }

    /// Tasks that did not pass (failed, timed out, errored).
    pub fn failing_tasks(&self) -> Vec<String> {
        self.view
            .tasks
            .iter()
            .filter(|task| {
                matches!(
                    task.result,
                    Some(TaskResult::Fail | TaskResult::Timeout | TaskResult::Error)
                )
            })
            .map(|task| task.id.clone())
            .collect()
    }
}

/// Pure: which `[[notify]]` events these facts fire. A bisect's step
/// queues fire none (the bisect's own end does); `board_quarantined`
/// fires nothing until boards exist.
pub fn fired(facts: &Facts) -> Vec<NotifyOn> {
    match facts {
        Facts::Queue(queue) => {
            if queue.moment != QueueMoment::Finished || queue.view.bisect.is_some() {
                return Vec::new();
            }
            let verdict = queue.view.verdict.as_deref().unwrap_or("error");
            let mut fired = vec![NotifyOn::Finished];
            if matches!(verdict, "failed" | "error") {
                fired.push(NotifyOn::Failed);
            }
            let flaky = queue.view.counts.flaky > 0
                || queue
                    .view
                    .tasks
                    .iter()
                    .any(|t| t.result == Some(TaskResult::Flaky));
            if flaky {
                fired.push(NotifyOn::Flaky);
            }
            if !queue.new_failures.is_empty() {
                fired.push(NotifyOn::NewFailure);
            }
            fired
        }
        Facts::Bisect(view) if view.first_bad.is_some() => vec![NotifyOn::BisectFound],
        Facts::Bisect(_) => Vec::new(),
    }
}

/// The word of a `[[notify]]` event, as the config and the body write it.
pub fn event_word(on: NotifyOn) -> &'static str {
    match on {
        NotifyOn::Finished => "finished",
        NotifyOn::Failed => "failed",
        NotifyOn::Flaky => "flaky",
        NotifyOn::NewFailure => "new_failure",
        NotifyOn::BisectFound => "bisect_found",
        NotifyOn::BoardQuarantined => "board_quarantined",
    }
}

/// Pure: whether `queue_id`'s run of a test is a new failure: it failed
/// (`FAIL`, `TIMEOUT`) and the test's run before it passed. `runs` are
/// the test's newest runs, newest first, bisect runs left out.
pub fn is_new_failure(queue_id: &str, runs: &[TestRun]) -> bool {
    let Some(at) = runs.iter().position(|run| run.queue_id == queue_id) else {
        return false;
    };
    runs[at].outcome() == RunOutcome::Failure
        && runs
            .get(at + 1)
            .is_some_and(|before| before.outcome().passed() == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(queue: &str, result: &str) -> TestRun {
        TestRun {
            queue_id: queue.into(),
            commit: None,
            attempt: 1,
            try_number: 1,
            result: result.into(),
            duration_ms: 1,
            at: "2026-01-01T00:00:00Z".into(),
            bisect: None,
            tries: Vec::new(),
            message: None,
        }
    }

    #[test]
    fn a_failure_after_a_pass_is_new_after_a_failure_it_is_not() {
        assert!(is_new_failure(
            "q2",
            &[run("q2", "FAIL"), run("q1", "PASS")]
        ));
        assert!(is_new_failure(
            "q2",
            &[run("q2", "TIMEOUT"), run("q1", "FLAKY")]
        ));
        assert!(!is_new_failure(
            "q2",
            &[run("q2", "FAIL"), run("q1", "FAIL")]
        ));
        assert!(!is_new_failure(
            "q2",
            &[run("q2", "FAIL"), run("q1", "ERROR")]
        ));
        assert!(
            !is_new_failure("q2", &[run("q2", "FAIL")]),
            "a first run is no new failure"
        );
        assert!(!is_new_failure(
            "q2",
            &[run("q2", "ERROR"), run("q1", "PASS")]
        ));
        assert!(!is_new_failure(
            "q9",
            &[run("q2", "FAIL"), run("q1", "PASS")]
        ));
    }

    #[test]
    fn a_later_run_does_not_hide_this_queues_new_failure() {
        let runs = [run("q3", "PASS"), run("q2", "FAIL"), run("q1", "PASS")];
        assert!(is_new_failure("q2", &runs));
    }
}
