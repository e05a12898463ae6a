//! How one event changes one queue's view: a pure function, tested without
//! NATS or SQLite. The runner loads views, folds a batch of events through
//! [`apply`], and stores the results.
//!
//! Rules that keep the view right under redelivery and races:
//! - a terminal queue (`Finished`, `Error`, `Cancelled`) never changes again;
//! - worker events of an older attempt than the view's are ignored, so a
//!   worker presumed dead cannot overwrite the run that replaced it.

use testarena_events::{
    Event, EventBody, FinalStatus, JunitSummary, QueueStatus, Stage, TaskResult, TaskState,
};

use crate::view::{Counts, JunitView, QueueView, SourceView, StageView, TaskView};

/// What applying one event does to a queue's view.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// The view is new or changed.
    Upsert,
    /// The queue and everything about it goes.
    Delete,
    /// Nothing to do (a duplicate, a stale attempt, a queue never submitted).
    Ignore,
}

/// Applies `event` to `view` (`None` when the queue has no view yet).
pub fn apply(view: &mut Option<QueueView>, event: &Event) -> Change {
    if let EventBody::Deleted {} = event.body {
        return Change::Delete;
    }
    if let EventBody::Submitted {
        source,
        profile,
        tasks,
    } = &event.body
    {
        if view.is_some() {
            return Change::Ignore;
        }
        *view = Some(QueueView {
            id: event.queue_id.to_string(),
            status: QueueStatus::Waiting.as_str().to_owned(),
            source: SourceView {
                repo: source.repo.to_string(),
                git_ref: source.git_ref.to_string(),
            },
            commit: None,
            profile: profile.as_ref().map(ToString::to_string),
            attempt: 0,
            worker: None,
            submitted_at: event.at.clone(),
            started_at: None,
            finished_at: None,
            reason: None,
            cancel_requested: false,
            counts: Counts::default(),
            stages: Vec::new(),
            tasks: tasks
                .iter()
                .map(|t| TaskView {
                    id: t.id.to_string(),
                    scenario: t.scenario.to_string(),
                    timeout_s: t.timeout_s,
                    status: TaskState::Waiting.status_word().to_owned(),
                    result: None,
                    exit_code: None,
                    duration_ms: None,
                    started_at: None,
                    finished_at: None,
                    message: None,
                    junit: None,
                })
                .collect(),
        });
        recount(view.as_mut().expect("just set"));
        return Change::Upsert;
    }
    let Some(queue) = view.as_mut() else {
        return Change::Ignore;
    };
    if is_terminal(queue) {
        return Change::Ignore;
    }
    let changed = match &event.body {
        EventBody::Submitted { .. } | EventBody::Deleted {} => unreachable!("handled above"),
        EventBody::CancelRequested { reason } => {
            queue.cancel_requested = true;
            if queue.status == QueueStatus::Waiting.as_str() {
                // No worker holds it yet: it is cancelled now. A worker that
                // later receives it sees the request and only acknowledges it.
                finish(
                    queue,
                    FinalStatus::Cancelled,
                    Some(
                        reason
                            .clone()
                            .unwrap_or_else(|| "cancelled before it started".into()),
                    ),
                    &event.at,
                );
            }
            true
        }
        EventBody::Started { worker, attempt } => {
            if *attempt <= queue.attempt {
                false
            } else {
                queue.status = QueueStatus::Running.as_str().to_owned();
                queue.attempt = *attempt;
                queue.worker = Some(worker.clone());
                queue.started_at = Some(event.at.clone());
                queue.stages.clear();
                queue.commit = None;
                for task in &mut queue.tasks {
                    reset_task(task);
                }
                true
            }
        }
        EventBody::StageStarted { stage, attempt } => {
            *attempt == queue.attempt && {
                let view = stage_view(queue, *stage);
                view.status = "running".into();
                view.started_at = Some(event.at.clone());
                true
            }
        }
        EventBody::StageFinished {
            stage,
            attempt,
            outcome,
            duration_ms,
            commit,
            message,
        } => {
            *attempt == queue.attempt && {
                if commit.is_some() {
                    queue.commit = commit.clone();
                }
                let view = stage_view(queue, *stage);
                view.status = outcome.as_str().to_owned();
                view.finished_at = Some(event.at.clone());
                view.duration_ms = Some(*duration_ms);
                view.message = message.clone();
                true
            }
        }
        EventBody::TaskStarted { task_id, attempt } => {
            *attempt == queue.attempt
                && match find_task(queue, task_id.as_str()) {
                    Some(task) => {
                        reset_task(task);
                        task.status = TaskState::Running.status_word().to_owned();
                        task.started_at = Some(event.at.clone());
                        true
                    }
                    None => false,
                }
        }
        EventBody::TaskFinished {
            task_id,
            attempt,
            result,
            exit_code,
            duration_ms,
            junit,
            message,
        } => {
            *attempt == queue.attempt
                && match find_task(queue, task_id.as_str()) {
                    Some(task) => {
                        let state = TaskState::Finished(*result);
                        task.status = state.status_word().to_owned();
                        task.result = Some(result.as_str().to_owned());
                        task.exit_code = *exit_code;
                        task.duration_ms = Some(*duration_ms);
                        task.finished_at = Some(event.at.clone());
                        task.message = message.clone();
                        task.junit = junit.as_ref().map(junit_view);
                        true
                    }
                    None => false,
                }
        }
        EventBody::Finished {
            status,
            attempt,
            reason,
        } => {
            // A `finished` without an attempt comes from outside any run
            // (e.g. a cancelled queue acknowledged by a worker); it still ends it.
            attempt.is_none_or(|a| a == queue.attempt) && {
                finish(queue, *status, reason.clone(), &event.at);
                true
            }
        }
    };
    if changed {
        recount(queue);
        Change::Upsert
    } else {
        Change::Ignore
    }
}

fn is_terminal(queue: &QueueView) -> bool {
    QueueStatus::parse(&queue.status).is_some_and(QueueStatus::is_terminal)
}

fn finish(queue: &mut QueueView, status: FinalStatus, reason: Option<String>, at: &str) {
    queue.status = QueueStatus::from(status).as_str().to_owned();
    queue.finished_at = Some(at.to_owned());
    queue.reason = reason;
    // Tasks that never got to run: skipped after an error, cancelled otherwise.
    let leftover = match status {
        FinalStatus::Error => TaskState::Skipped,
        FinalStatus::Cancelled | FinalStatus::Finished => TaskState::Cancelled,
    };
    for task in &mut queue.tasks {
        if task.status == TaskState::Waiting.status_word() {
            task.status = leftover.status_word().to_owned();
        } else if task.status == TaskState::Running.status_word() {
            task.status = TaskState::Cancelled.status_word().to_owned();
            task.finished_at = Some(at.to_owned());
        }
    }
    for stage in &mut queue.stages {
        if stage.status == "running" {
            stage.status = "cancelled".into();
        }
    }
}

fn reset_task(task: &mut TaskView) {
    task.status = TaskState::Waiting.status_word().to_owned();
    task.result = None;
    task.exit_code = None;
    task.duration_ms = None;
    task.started_at = None;
    task.finished_at = None;
    task.message = None;
    task.junit = None;
}

fn find_task<'a>(queue: &'a mut QueueView, id: &str) -> Option<&'a mut TaskView> {
    queue.tasks.iter_mut().find(|t| t.id == id)
}

fn stage_view(queue: &mut QueueView, stage: Stage) -> &mut StageView {
    let name = stage.as_str();
    let index = match queue.stages.iter().position(|s| s.stage == name) {
        Some(index) => index,
        None => {
            queue.stages.push(StageView {
                stage: name.to_owned(),
                status: "running".into(),
                started_at: None,
                finished_at: None,
                duration_ms: None,
                message: None,
            });
            queue.stages.len() - 1
        }
    };
    &mut queue.stages[index]
}

fn junit_view(junit: &JunitSummary) -> JunitView {
    JunitView {
        tests: junit.tests,
        failures: junit.failures,
        errors: junit.errors,
        skipped: junit.skipped,
        failed_cases: junit.failed_cases.clone(),
    }
}

fn recount(queue: &mut QueueView) {
    let mut counts = Counts::default();
    for task in &queue.tasks {
        counts.total += 1;
        let state = TaskState::from_columns(&task.status, task.result.as_deref());
        let slot = match state {
            Some(TaskState::Waiting) | None => &mut counts.waiting,
            Some(TaskState::Running) => &mut counts.running,
            Some(TaskState::Skipped) => &mut counts.skipped,
            Some(TaskState::Cancelled) => &mut counts.cancelled,
            Some(TaskState::Finished(TaskResult::Pass)) => &mut counts.pass,
            Some(TaskState::Finished(TaskResult::Fail)) => &mut counts.fail,
            Some(TaskState::Finished(TaskResult::Timeout)) => &mut counts.timeout,
            Some(TaskState::Finished(TaskResult::Error)) => &mut counts.error,
        };
        *slot += 1;
    }
    queue.counts = counts;
}

#[cfg(test)]
mod tests {
    use testarena_events::{GitRef, QueueId, RepoUrl, ScenarioPath, Source, TaskId, TaskSpec};

    use super::*;

    fn event(body: EventBody) -> Event {
        Event::new(QueueId::parse("q1").unwrap(), body)
    }

    fn submitted() -> Event {
        event(EventBody::Submitted {
            source: Source {
                repo: RepoUrl::parse("/repo").unwrap(),
                git_ref: GitRef::parse("main").unwrap(),
            },
            profile: None,
            tasks: ["t1", "t2"]
                .iter()
                .map(|id| TaskSpec {
                    id: TaskId::parse(*id).unwrap(),
                    scenario: ScenarioPath::parse(format!("{id}.scn")).unwrap(),
                    timeout_s: None,
                })
                .collect(),
        })
    }

    fn started(attempt: u32) -> Event {
        event(EventBody::Started {
            worker: format!("w{attempt}"),
            attempt,
        })
    }

    fn task_finished(task: &str, attempt: u32, result: TaskResult) -> Event {
        event(EventBody::TaskFinished {
            task_id: TaskId::parse(task).unwrap(),
            attempt,
            result,
            exit_code: Some(0),
            duration_ms: 5,
            junit: None,
            message: None,
        })
    }

    fn fold(events: &[Event]) -> Option<QueueView> {
        let mut view = None;
        for e in events {
            apply(&mut view, e);
        }
        view
    }

    #[test]
    fn a_full_run_ends_finished_with_counts() {
        let view = fold(&[
            submitted(),
            started(1),
            task_finished("t1", 1, TaskResult::Pass),
            task_finished("t2", 1, TaskResult::Fail),
            event(EventBody::Finished {
                status: FinalStatus::Finished,
                attempt: Some(1),
                reason: None,
            }),
        ])
        .unwrap();
        assert_eq!(view.status, "Finished");
        assert_eq!(
            (view.counts.pass, view.counts.fail, view.counts.total),
            (1, 1, 2)
        );
    }

    #[test]
    fn a_second_attempt_resets_tasks_and_ignores_the_first() {
        let view = fold(&[
            submitted(),
            started(1),
            task_finished("t1", 1, TaskResult::Pass),
            started(2),
            task_finished("t2", 1, TaskResult::Fail),
        ])
        .unwrap();
        assert_eq!(view.attempt, 2);
        assert_eq!(view.worker.as_deref(), Some("w2"));
        assert_eq!(view.counts.waiting, 2);
    }

    #[test]
    fn an_error_skips_the_tasks_that_did_not_run() {
        let view = fold(&[
            submitted(),
            started(1),
            event(EventBody::Finished {
                status: FinalStatus::Error,
                attempt: Some(1),
                reason: Some("build failed".into()),
            }),
        ])
        .unwrap();
        assert_eq!(view.status, "Error");
        assert_eq!(view.reason.as_deref(), Some("build failed"));
        assert_eq!(view.counts.skipped, 2);
    }

    #[test]
    fn cancelling_a_waiting_queue_cancels_it_at_once_and_terminal_is_final() {
        let view = fold(&[
            submitted(),
            event(EventBody::CancelRequested { reason: None }),
            started(1),
        ])
        .unwrap();
        assert_eq!(view.status, "Cancelled");
        assert_eq!(view.counts.cancelled, 2);
    }

    #[test]
    fn a_duplicate_submit_and_events_of_unknown_queues_are_ignored() {
        let mut view = None;
        assert_eq!(apply(&mut view, &started(1)), Change::Ignore);
        assert_eq!(apply(&mut view, &submitted()), Change::Upsert);
        assert_eq!(apply(&mut view, &submitted()), Change::Ignore);
        assert_eq!(
            apply(&mut view, &event(EventBody::Deleted {})),
            Change::Delete
        );
    }
}
