//! Pure: a rerun request and the queue it reruns → the new queue's
//! submission. The new queue runs at the original's resolved commit (not
//! its ref, which may have moved), with its profile, `requires`, priority,
//! owner and shards, and the tasks chosen: all, the listed ones, or those
//! that did not pass.

use testarena_events::{EventBody, GitRef, Owner, QueueId, QueueView, Source, TaskSpec};

use crate::submission::Submission;

/// Which of the original's tasks run again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RerunChoice {
    /// Only these task ids; `None`: every task.
    pub tasks: Option<Vec<String>>,
    /// Only tasks that did not pass (see [`did_not_pass`]).
    pub failed_only: bool,
}

/// Why a queue cannot be rerun as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RerunError {
    /// No checkout finished, so there is no commit to run "the same" at.
    #[error("queue {0} has no resolved commit (its checkout never finished); submit it again to run its ref")]
    NoCommit(String),
    #[error("tasks[{index}]: queue {queue} has no task {task:?}")]
    UnknownTask {
        index: usize,
        queue: String,
        task: String,
    },
    #[error("queue {0} has no task that did not pass: nothing to rerun")]
    NothingFailed(String),
    #[error("tasks: the list is empty; leave it out to rerun every task")]
    NoTasks,
    /// The stored `submitted` is not one (a corrupt stream).
    #[error("queue {0}'s submitted event is not a submit")]
    NotASubmit(String),
}

/// A task that did not pass: `FAIL`, `TIMEOUT` or `ERROR` (quarantined or
/// not), or one that ended without a result (skipped, cancelled). `PASS`
/// and `FLAKY` passed; a waiting or running task has not failed yet.
pub(crate) fn did_not_pass(task: &testarena_events::TaskView) -> bool {
    match task.result {
        Some(result) => !result.is_pass(),
        None => matches!(task.status.as_str(), "Skipped" | "Cancelled"),
    }
}

/// The rerun's submission, under `id`, from the original's view and its
/// stored `submitted` body.
pub(crate) fn rerun_submission(
    original: &QueueView,
    submitted: &EventBody,
    choice: &RerunChoice,
    id: QueueId,
) -> Result<Submission, RerunError> {
    let EventBody::Submitted {
        source,
        profile,
        tasks,
        requires,
        priority,
        owner,
        shards,
        ..
    } = submitted
    else {
        return Err(RerunError::NotASubmit(original.id.clone()));
    };
    let commit = original
        .commit
        .as_deref()
        .and_then(|c| GitRef::parse(c).ok())
        .ok_or_else(|| RerunError::NoCommit(original.id.clone()))?;
    let tasks = chosen_tasks(original, tasks, choice)?;
    Ok(Submission {
        id,
        source: Source {
            repo: source.repo.clone(),
            git_ref: commit,
        },
        profile: profile.clone(),
        tasks,
        requires: requires.clone(),
        priority: *priority,
        owner: owner.clone().unwrap_or_else(Owner::anonymous),
        shards: *shards,
        claim_order: Vec::new(),
        bisect: None,
        rerun_of: QueueId::parse(&original.id).ok(),
    })
}

/// The original's task specs (timeouts and retries kept) the choice
/// names, in the original's order.
fn chosen_tasks(
    original: &QueueView,
    specs: &[TaskSpec],
    choice: &RerunChoice,
) -> Result<Vec<TaskSpec>, RerunError> {
    if let Some(listed) = &choice.tasks {
        if listed.is_empty() {
            return Err(RerunError::NoTasks);
        }
        for (index, task) in listed.iter().enumerate() {
            if !specs.iter().any(|s| s.id.as_str() == task) {
                return Err(RerunError::UnknownTask {
                    index,
                    queue: original.id.clone(),
                    task: task.clone(),
                });
            }
        }
    }
    let failed = |spec: &TaskSpec| {
        original
            .tasks
            .iter()
            .any(|t| t.id == spec.id.as_str() && did_not_pass(t))
    };
    let chosen: Vec<TaskSpec> = specs
        .iter()
        .filter(|s| {
            choice
                .tasks
                .as_ref()
                .is_none_or(|l| l.iter().any(|t| t == s.id.as_str()))
        })
        .filter(|s| !choice.failed_only || failed(s))
        .cloned()
        .collect();
    if chosen.is_empty() {
        return Err(RerunError::NothingFailed(original.id.clone()));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use testarena_events::{Label, Priority, ProfileName};

    use super::*;

    const SHA: &str = "3f1c2a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e";

    fn original(results: &[(&str, &str, Option<&str>)]) -> (QueueView, EventBody) {
        let tasks: Vec<serde_json::Value> = results
            .iter()
            .map(|(id, status, result)| {
                serde_json::json!({
                    "id": id, "scenario": format!("{id}.scn"), "timeout_s": null,
                    "status": status, "result": result, "exit_code": null,
                    "duration_ms": null, "started_at": null, "finished_at": null,
                    "message": null, "junit": null
                })
            })
            .collect();
        let view: QueueView = serde_json::from_value(serde_json::json!({
            "id": "fw-1", "status": "Finished", "source": {"repo": "/r", "ref": "main"},
            "commit": SHA, "profile": "qemu-arm", "attempt": 1, "worker": "w",
            "submitted_at": "2026-01-01T00:00:00Z", "started_at": null,
            "finished_at": null, "reason": null, "cancel_requested": false,
            "counts": {"total": 0, "waiting": 0, "running": 0, "pass": 0, "fail": 0,
                       "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
            "stages": [], "tasks": tasks
        }))
        .unwrap();
        let specs = results
            .iter()
            .map(|(id, _, _)| {
                let mut spec = TaskSpec::parse(id, &format!("{id}.scn")).unwrap();
                spec.retries = Some(2);
                spec
            })
            .collect();
        let submitted = EventBody::Submitted {
            source: Source::parse("/r", "main").unwrap(),
            profile: Some(ProfileName::parse("qemu-arm").unwrap()),
            tasks: specs,
            requires: vec![Label::parse("board=x").unwrap()],
            priority: Priority::High,
            owner: Some(Owner::parse("team-fw").unwrap()),
            shards: 2,
            claim_order: vec![1, 0],
            bisect: None,
            rerun_of: None,
        };
        (view, submitted)
    }

    fn ids(submission: &Submission) -> Vec<&str> {
        submission.tasks.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn a_rerun_runs_at_the_resolved_commit_with_the_originals_settings() {
        let (view, submitted) = original(&[
            ("a", "Finished", Some("PASS")),
            ("b", "Finished", Some("FAIL")),
        ]);
        let id = QueueId::parse("fw-2").unwrap();
        let rerun =
            rerun_submission(&view, &submitted, &RerunChoice::default(), id.clone()).unwrap();
        assert_eq!(rerun.source.git_ref.as_str(), SHA);
        assert_eq!(rerun.source.repo.as_str(), "/r");
        assert_eq!(ids(&rerun), ["a", "b"]);
        assert_eq!(rerun.tasks[0].retries, Some(2), "task settings are kept");
        assert_eq!(
            (rerun.priority, rerun.shards, rerun.owner.as_str()),
            (Priority::High, 2, "team-fw")
        );
        assert_eq!(rerun.requires.len(), 1);
        assert_eq!(rerun.profile.as_ref().unwrap().as_str(), "qemu-arm");
        assert_eq!(rerun.rerun_of.as_ref().unwrap().as_str(), "fw-1");
        assert!(rerun.claim_order.is_empty() && rerun.bisect.is_none());
        assert_eq!(rerun.id, id);
    }

    #[test]
    fn failed_only_takes_the_tasks_that_did_not_pass() {
        let (view, submitted) = original(&[
            ("pass", "Finished", Some("PASS")),
            ("flaky", "Finished", Some("FLAKY")),
            ("fail", "Finished", Some("FAIL")),
            ("timeout", "Finished", Some("TIMEOUT")),
            ("error", "Finished", Some("ERROR")),
            ("skipped", "Skipped", None),
        ]);
        let choice = RerunChoice {
            tasks: None,
            failed_only: true,
        };
        let id = QueueId::parse("fw-2").unwrap();
        let rerun = rerun_submission(&view, &submitted, &choice, id).unwrap();
        assert_eq!(ids(&rerun), ["fail", "timeout", "error", "skipped"]);
    }

    #[test]
    fn listed_tasks_run_in_the_originals_order_and_an_unknown_one_is_named() {
        let (view, submitted) = original(&[
            ("a", "Finished", Some("PASS")),
            ("b", "Finished", Some("FAIL")),
            ("c", "Finished", Some("FAIL")),
        ]);
        let id = || QueueId::parse("fw-2").unwrap();
        let listed = |tasks: &[&str], failed_only| RerunChoice {
            tasks: Some(tasks.iter().map(|t| (*t).to_owned()).collect()),
            failed_only,
        };
        let rerun = rerun_submission(&view, &submitted, &listed(&["c", "a"], false), id());
        assert_eq!(ids(&rerun.unwrap()), ["a", "c"]);
        let both = rerun_submission(&view, &submitted, &listed(&["a", "c"], true), id());
        assert_eq!(ids(&both.unwrap()), ["c"]);
        assert_eq!(
            rerun_submission(&view, &submitted, &listed(&["a", "zz"], false), id()),
            Err(RerunError::UnknownTask {
                index: 1,
                queue: "fw-1".into(),
                task: "zz".into()
            })
        );
        assert_eq!(
            rerun_submission(&view, &submitted, &listed(&["a"], true), id()),
            Err(RerunError::NothingFailed("fw-1".into()))
        );
        assert_eq!(
            rerun_submission(&view, &submitted, &listed(&[], false), id()),
            Err(RerunError::NoTasks)
        );
    }

    #[test]
    fn a_queue_without_a_resolved_commit_cannot_be_rerun() {
        let (mut view, submitted) = original(&[("a", "Skipped", None)]);
        view.commit = None;
        let id = QueueId::parse("fw-2").unwrap();
        assert_eq!(
            rerun_submission(&view, &submitted, &RerunChoice::default(), id),
            Err(RerunError::NoCommit("fw-1".into()))
        );
    }
}
