//! How one event changes one queue's view: a pure function, tested without
//! NATS or SQLite. The runner loads views, folds a batch of events through
//! [`apply`], and stores the results.
//!
//! Rules that keep the view right under redelivery and races:
//! - a terminal queue (`Finished`, `Error`, `Cancelled`) never changes again;
//! - worker events of an older attempt than the view's are ignored, so a
//!   worker presumed dead cannot overwrite the run that replaced it;
//! - a sharded queue's worker events say their shard: each shard has its
//!   own attempts, stages and worker, and a shard's new attempt resets only
//!   its own stages (its tasks were claimed one by one).

use testarena_events::{
    ArtifactRecord, ArtifactView, CommitContext, Event, EventBody, FinalStatus, JunitSummary,
    Owner, QueueStatus, Stage, TaskResult, TaskSpec, TaskState, TaskTry, TryView,
};

use crate::view::{
    Counts, JunitCaseView, JunitView, QueueView, ShardView, SourceView, StageView, TaskView,
};

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
    match &event.body {
        EventBody::Deleted {} => Change::Delete,
        EventBody::Submitted { .. } => {
            if view.is_some() {
                return Change::Ignore;
            }
            *view = submitted_view(event);
            Change::Upsert
        }
        _ => {
            let Some(queue) = view.as_mut().filter(|q| !q.is_terminal()) else {
                return Change::Ignore;
            };
            if !apply_to_queue(queue, event) {
                return Change::Ignore;
            }
            recount(queue);
            Change::Upsert
        }
    }
}

/// A new queue's view: waiting, every task waiting; `None` for another event.
fn submitted_view(event: &Event) -> Option<QueueView> {
    let EventBody::Submitted {
        source,
        profile,
        tasks,
        requires,
        priority,
        owner,
        shards,
        bisect,
        rerun_of,
        ..
    } = &event.body
    else {
        return None;
    };
    let mut view = QueueView {
        id: event.queue_id.to_string(),
        status: QueueStatus::Waiting,
        source: SourceView {
            repo: source.repo.to_string(),
            git_ref: source.git_ref.to_string(),
        },
        commit: None,
        commit_context: None,
        profile: profile.as_ref().map(ToString::to_string),
        requires: requires.iter().map(ToString::to_string).collect(),
        priority: *priority,
        owner: owner
            .as_ref()
            .map_or(Owner::ANONYMOUS, Owner::as_str)
            .to_owned(),
        position: None,
        waiting_reason: None,
        worker_available: None,
        attempt: 0,
        worker: None,
        submitted_at: event.at.clone(),
        started_at: None,
        finished_at: None,
        reason: None,
        verdict: None,
        cancel_requested: false,
        shards: shard_views(*shards, tasks.len()),
        counts: Counts::default(),
        stages: Vec::new(),
        tasks: tasks.iter().map(waiting_task).collect(),
        artifacts: Vec::new(),
        firmware: None,
        firmware_budget: None,
        bisect: bisect.as_ref().map(ToString::to_string),
        rerun_of: rerun_of.as_ref().map(ToString::to_string),
        log_expired_at: None,
    };
    recount(&mut view);
    Some(view)
}

/// One waiting shard per shard asked for, at most one per task; none for
/// an unsharded queue.
fn shard_views(shards: u8, tasks: usize) -> Vec<ShardView> {
    if shards <= 1 {
        return Vec::new();
    }
    let count = usize::from(shards).min(tasks);
    (0..count)
        .filter_map(|shard| u8::try_from(shard).ok())
        .map(|shard| ShardView {
            shard,
            status: "waiting".into(),
            worker: None,
            attempt: 0,
        })
        .collect()
}

fn waiting_task(spec: &TaskSpec) -> TaskView {
    TaskView {
        id: spec.id.to_string(),
        scenario: spec.scenario.to_string(),
        timeout_s: spec.timeout_s,
        status: TaskState::Waiting.status_word().to_owned(),
        result: None,
        exit_code: None,
        duration_ms: None,
        started_at: None,
        finished_at: None,
        message: None,
        junit: None,
        progress: None,
        expected_duration_ms: None,
        tries: Vec::new(),
        quarantined: false,
        worker: None,
        shard: None,
    }
}

/// Applies an event other than `submitted` and `deleted` to a queue that is
/// not terminal; whether it changed the view.
fn apply_to_queue(queue: &mut QueueView, event: &Event) -> bool {
    let Some(current) = shown_attempt(queue, event.shard) else {
        return false;
    };
    if !is_for_current_run(&event.body, current) {
        return false;
    }
    let at = event.at.as_str();
    let shard = event.shard;
    match &event.body {
        // Dispatching and claiming change nothing the view shows:
        // `started` and `task_started` do.
        EventBody::Submitted { .. }
        | EventBody::Dispatched { .. }
        | EventBody::Deleted {}
        | EventBody::TaskClaimed { .. }
        | EventBody::BuildClaimed { .. } => false,
        EventBody::CancelRequested { reason } => {
            apply_cancel_requested(queue, reason.as_deref(), at)
        }
        EventBody::Started { worker, attempt } => match shard {
            None => apply_started(queue, worker, *attempt, at),
            Some(shard) => apply_shard_started(queue, shard, worker, *attempt, at),
        },
        EventBody::ShardFinished { .. } => apply_shard_finished(queue, shard),
        EventBody::StageStarted { .. } | EventBody::StageFinished { .. } => {
            apply_stage_event(queue, &event.body, shard, at)
        }
        EventBody::TaskStarted { .. } | EventBody::TaskFinished { .. } => {
            apply_task_event(queue, &event.body, shard, at)
        }
        EventBody::Finished { status, reason, .. } => {
            finish(queue, *status, reason.clone(), at);
            true
        }
        EventBody::ArtifactStored { artifact, .. } => apply_artifact_stored(queue, artifact),
        EventBody::FirmwareMeasured { size, budget, .. } => {
            queue.firmware = Some(*size);
            queue.firmware_budget = *budget;
            true
        }
    }
}

/// The attempt the view shows for the run an event of `shard` belongs to:
/// the queue's, or its shard's (`None`: the view has no such shard).
fn shown_attempt(queue: &QueueView, shard: Option<u8>) -> Option<u32> {
    match shard {
        None => Some(queue.attempt),
        Some(shard) => queue
            .shards
            .get(usize::from(shard))
            .map(|view| view.attempt),
    }
}

/// A stage's `stage_started` or `stage_finished`; whether it changed the view.
fn apply_stage_event(queue: &mut QueueView, body: &EventBody, shard: Option<u8>, at: &str) -> bool {
    match body {
        EventBody::StageStarted { stage, .. } => apply_stage_started(queue, (*stage, shard), at),
        EventBody::StageFinished {
            stage,
            outcome,
            duration_ms,
            commit,
            commit_context,
            message,
            ..
        } => {
            let ended = StageEnd {
                status: outcome.as_str(),
                duration_ms: *duration_ms,
                commit: commit.as_deref(),
                context: commit_context.as_ref(),
                message: message.as_deref(),
            };
            apply_stage_finished(queue, (*stage, shard), ended, at)
        }
        _ => false,
    }
}

/// A task's `task_started` or `task_finished`; whether it changed the view.
fn apply_task_event(queue: &mut QueueView, body: &EventBody, shard: Option<u8>, at: &str) -> bool {
    match body {
        EventBody::TaskStarted { task_id, .. } => {
            apply_task_started(queue, task_id.as_str(), shard, at)
        }
        EventBody::TaskFinished {
            task_id,
            result,
            exit_code,
            duration_ms,
            junit,
            message,
            tries,
            ..
        } => {
            let ended = TaskEnd {
                result: *result,
                exit_code: *exit_code,
                duration_ms: *duration_ms,
                junit: junit.as_ref(),
                message: message.as_deref(),
                tries,
            };
            apply_task_finished(queue, task_id.as_str(), ended, at)
        }
        _ => false,
    }
}

/// Whether `body` belongs to the run a view at attempt `current` shows. A
/// worker's events of another attempt are stale; `started` must begin a
/// newer one. A `finished` without an attempt comes from outside any run
/// (e.g. a cancelled queue acknowledged by a worker); it still ends it.
fn is_for_current_run(body: &EventBody, current: u32) -> bool {
    match body {
        EventBody::Started { attempt, .. } => *attempt > current,
        EventBody::StageStarted { attempt, .. }
        | EventBody::StageFinished { attempt, .. }
        | EventBody::TaskStarted { attempt, .. }
        | EventBody::TaskFinished { attempt, .. }
        | EventBody::TaskClaimed { attempt, .. }
        | EventBody::BuildClaimed { attempt, .. }
        | EventBody::ShardFinished { attempt, .. }
        | EventBody::ArtifactStored { attempt, .. }
        | EventBody::FirmwareMeasured { attempt, .. } => *attempt == current,
        EventBody::Finished { attempt, .. } => attempt.is_none_or(|a| a == current),
        EventBody::CancelRequested { .. } => true,
        EventBody::Submitted { .. } | EventBody::Dispatched { .. } | EventBody::Deleted {} => false,
    }
}

/// Marks the request; a queue no worker holds yet is cancelled at once. A
/// worker that later receives it sees the request and only acknowledges it.
/// No worker writes its log, so the reason says who cancelled it and when.
fn apply_cancel_requested(queue: &mut QueueView, reason: Option<&str>, at: &str) -> bool {
    queue.cancel_requested = true;
    if queue.status == QueueStatus::Waiting {
        let who = reason.unwrap_or("cancelled");
        let reason = format!("{who} while it was waiting, before any worker started it");
        finish(queue, FinalStatus::Cancelled, Some(reason), at);
    }
    true
}

/// An artifact joins the list; one stored again under its name replaces it.
fn apply_artifact_stored(queue: &mut QueueView, artifact: &ArtifactRecord) -> bool {
    let view = ArtifactView {
        name: artifact.name.clone(),
        size: artifact.size,
        sha256: artifact.sha256.clone(),
        task: artifact.task.as_ref().map(ToString::to_string),
    };
    match queue.artifacts.iter_mut().find(|a| a.name == view.name) {
        Some(known) => *known = view,
        None => queue.artifacts.push(view),
    }
    true
}

/// A newer attempt starts the run over: stages, commit, tasks, artifacts
/// and firmware sizes reset.
fn apply_started(queue: &mut QueueView, worker: &str, attempt: u32, at: &str) -> bool {
    queue.status = QueueStatus::Running;
    queue.attempt = attempt;
    queue.worker = Some(worker.to_owned());
    queue.started_at = Some(at.to_owned());
    queue.stages.clear();
    queue.commit = None;
    queue.commit_context = None;
    queue.artifacts.clear();
    queue.firmware = None;
    queue.firmware_budget = None;
    for task in &mut queue.tasks {
        reset_task(task);
    }
    true
}

/// A shard's attempt starts: the queue runs, the shard shows its worker,
/// and only that shard's stages start over.
fn apply_shard_started(
    queue: &mut QueueView,
    shard: u8,
    worker: &str,
    attempt: u32,
    at: &str,
) -> bool {
    let Some(view) = queue.shards.get_mut(usize::from(shard)) else {
        return false;
    };
    view.status = "running".into();
    view.worker = Some(worker.to_owned());
    view.attempt = attempt;
    queue.status = QueueStatus::Running;
    queue.attempt = queue.attempt.max(attempt);
    queue.worker.get_or_insert_with(|| worker.to_owned());
    queue.started_at.get_or_insert_with(|| at.to_owned());
    queue.stages.retain(|s| s.shard != Some(shard));
    true
}

fn apply_shard_finished(queue: &mut QueueView, shard: Option<u8>) -> bool {
    let Some(view) = shard.and_then(|s| queue.shards.get_mut(usize::from(s))) else {
        return false;
    };
    view.status = "finished".into();
    true
}

/// A stage, of one shard for a sharded queue.
type StageOf = (Stage, Option<u8>);

fn apply_stage_started(queue: &mut QueueView, stage: StageOf, at: &str) -> bool {
    let view = stage_view(queue, stage);
    view.status = "running".into();
    view.started_at = Some(at.to_owned());
    true
}

/// How a stage ended, as its `stage_finished` event says.
struct StageEnd<'a> {
    status: &'a str,
    duration_ms: u64,
    commit: Option<&'a str>,
    context: Option<&'a CommitContext>,
    message: Option<&'a str>,
}

fn apply_stage_finished(queue: &mut QueueView, stage: StageOf, ended: StageEnd, at: &str) -> bool {
    if let Some(commit) = ended.commit {
        // Every shard checks out the queue's first resolved commit.
        if stage.1.is_none() || queue.commit.is_none() {
            queue.commit = Some(commit.to_owned());
            queue.commit_context = ended.context.cloned();
        }
    }
    let view = stage_view(queue, stage);
    view.status = ended.status.to_owned();
    view.finished_at = Some(at.to_owned());
    view.duration_ms = Some(ended.duration_ms);
    view.message = ended.message.map(str::to_owned);
    true
}

/// A task of the queue starts afresh, on the worker of its run (of its
/// shard's); an unknown task changes nothing.
fn apply_task_started(queue: &mut QueueView, task_id: &str, shard: Option<u8>, at: &str) -> bool {
    let worker = match shard {
        None => queue.worker.clone(),
        Some(s) => queue
            .shards
            .get(usize::from(s))
            .and_then(|v| v.worker.clone()),
    };
    let Some(task) = find_task(queue, task_id) else {
        return false;
    };
    reset_task(task);
    task.status = TaskState::Running.status_word().to_owned();
    task.started_at = Some(at.to_owned());
    task.worker = worker;
    task.shard = shard;
    true
}

/// How a task ended, as its `task_finished` event says.
struct TaskEnd<'a> {
    result: TaskResult,
    exit_code: Option<i32>,
    duration_ms: u64,
    junit: Option<&'a JunitSummary>,
    message: Option<&'a str>,
    tries: &'a [TaskTry],
}

/// A task of the queue gets its result; an unknown task changes nothing.
fn apply_task_finished(queue: &mut QueueView, task_id: &str, ended: TaskEnd, at: &str) -> bool {
    let Some(task) = find_task(queue, task_id) else {
        return false;
    };
    task.status = TaskState::Finished(ended.result).status_word().to_owned();
    task.result = Some(ended.result);
    task.exit_code = ended.exit_code;
    task.duration_ms = Some(ended.duration_ms);
    task.finished_at = Some(at.to_owned());
    task.message = ended.message.map(str::to_owned);
    task.junit = ended.junit.map(junit_view);
    task.progress = None;
    task.tries = ended.tries.iter().map(try_view).collect();
    true
}

fn try_view(t: &TaskTry) -> TryView {
    TryView {
        result: t.result,
        exit_code: t.exit_code,
        duration_ms: t.duration_ms,
    }
}

fn finish(queue: &mut QueueView, status: FinalStatus, reason: Option<String>, at: &str) {
    queue.status = QueueStatus::from(status);
    queue.finished_at = Some(at.to_owned());
    queue.reason = reason;
    let leftover = leftover_state(status);
    for task in &mut queue.tasks {
        if task.status == TaskState::Waiting.status_word() {
            task.status = leftover.status_word().to_owned();
        } else if task.status == TaskState::Running.status_word() {
            task.status = TaskState::Cancelled.status_word().to_owned();
            task.finished_at = Some(at.to_owned());
            task.progress = None;
        }
    }
    let firmware = queue.firmware.as_ref().zip(queue.firmware_budget.as_ref());
    let verdict = crate::verdict::verdict(status, &queue.tasks, firmware);
    queue.verdict = Some(verdict.word.to_owned());
    if let Some(why) = verdict.reason {
        queue.reason.get_or_insert(why);
    }
    for stage in &mut queue.stages {
        if stage.status == "running" {
            stage.status = "cancelled".into();
        }
    }
    // The shards a `finished` stopped say so after it, and are not read.
    for shard in &mut queue.shards {
        if shard.status == "running" {
            shard.status = "finished".into();
        }
    }
}

/// What a task that never got to run becomes when its queue ends: skipped
/// after an error, cancelled otherwise.
fn leftover_state(status: FinalStatus) -> TaskState {
    match status {
        FinalStatus::Error => TaskState::Skipped,
        FinalStatus::Cancelled | FinalStatus::Finished => TaskState::Cancelled,
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
    task.progress = None;
    task.tries.clear();
    task.quarantined = false;
    task.worker = None;
    task.shard = None;
}

fn find_task<'a>(queue: &'a mut QueueView, id: &str) -> Option<&'a mut TaskView> {
    queue.tasks.iter_mut().find(|t| t.id == id)
}

fn stage_view(queue: &mut QueueView, (stage, shard): StageOf) -> &mut StageView {
    let name = stage.as_str();
    let index = match queue
        .stages
        .iter()
        .position(|s| s.stage == name && s.shard == shard)
    {
        Some(index) => index,
        None => {
            queue.stages.push(StageView {
                stage: name.to_owned(),
                status: "running".into(),
                started_at: None,
                finished_at: None,
                duration_ms: None,
                message: None,
                shard,
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
        cases: junit
            .cases
            .iter()
            .map(|case| JunitCaseView {
                name: case.name.clone(),
                classname: case.classname.clone(),
                time_ms: case.time_ms,
                result: case.result.clone(),
                message: case.message.clone(),
            })
            .collect(),
    }
}

/// Tasks per state, each counted once so the counts add up to `total`: an
/// excused failure is `quarantined`, not also `fail` or `timeout`.
pub(crate) fn recount(queue: &mut QueueView) {
    let mut counts = Counts::default();
    for task in &queue.tasks {
        counts.total += 1;
        let state = TaskState::from_columns(&task.status, task.result);
        let slot = match state {
            _ if task.quarantined => &mut counts.quarantined,
            Some(TaskState::Waiting) | None => &mut counts.waiting,
            Some(TaskState::Running) => &mut counts.running,
            Some(TaskState::Skipped) => &mut counts.skipped,
            Some(TaskState::Cancelled) => &mut counts.cancelled,
            Some(TaskState::Finished(TaskResult::Pass)) => &mut counts.pass,
            Some(TaskState::Finished(TaskResult::Fail)) => &mut counts.fail,
            Some(TaskState::Finished(TaskResult::Timeout)) => &mut counts.timeout,
            Some(TaskState::Finished(TaskResult::Error)) => &mut counts.error,
            Some(TaskState::Finished(TaskResult::Flaky)) => &mut counts.flaky,
        };
        *slot += 1;
    }
    queue.counts = counts;
}

#[cfg(test)]
mod tests {
    use testarena_events::{QueueId, Source, TaskId, TaskSpec};

    use super::*;

    fn event(body: EventBody) -> Event {
        Event::new(QueueId::parse("q1").unwrap(), body)
    }

    fn submitted() -> Event {
        let tasks = ["t1", "t2"]
            .iter()
            .map(|id| TaskSpec::parse(id, &format!("{id}.scn")).unwrap())
            .collect();
        event(EventBody::submitted(
            Source::parse("/repo", "main").unwrap(),
            None,
            tasks,
        ))
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
            tries: Vec::new(),
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
        assert_eq!(view.verdict.as_deref(), Some("failed"));
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
        assert_eq!(view.verdict.as_deref(), Some("cancelled"));
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

    /// A running queue at attempt 1 with its two tasks waiting.
    fn running() -> QueueView {
        let mut view = fold(&[submitted(), started(1)]).unwrap();
        view.commit = Some("abc".into());
        view
    }

    #[test]
    fn only_events_of_the_current_run_apply() {
        use testarena_events::StageOutcome;
        let task = || TaskId::parse("t1").unwrap();
        let finished = |attempt| EventBody::Finished {
            status: FinalStatus::Finished,
            attempt,
            reason: None,
        };
        let stage_finished = |attempt| EventBody::StageFinished {
            stage: Stage::Checkout,
            attempt,
            outcome: StageOutcome::Ok,
            duration_ms: 1,
            commit: None,
            commit_context: None,
            message: None,
        };
        let current = 2;
        for (body, applies) in [
            (started(3).body, true),
            (started(2).body, false),
            (started(1).body, false),
            (
                EventBody::StageStarted {
                    stage: Stage::Checkout,
                    attempt: 2,
                },
                true,
            ),
            (
                EventBody::StageStarted {
                    stage: Stage::Checkout,
                    attempt: 1,
                },
                false,
            ),
            (stage_finished(2), true),
            (stage_finished(3), false),
            (
                EventBody::TaskStarted {
                    task_id: task(),
                    attempt: 2,
                },
                true,
            ),
            (
                EventBody::TaskStarted {
                    task_id: task(),
                    attempt: 1,
                },
                false,
            ),
            (task_finished("t1", 2, TaskResult::Pass).body, true),
            (task_finished("t1", 1, TaskResult::Pass).body, false),
            (finished(Some(2)), true),
            (finished(None), true),
            (finished(Some(1)), false),
            (EventBody::CancelRequested { reason: None }, true),
            (EventBody::Deleted {}, false),
            (submitted().body, false),
        ] {
            assert_eq!(is_for_current_run(&body, current), applies, "{body:?}");
        }
    }

    #[test]
    fn tasks_that_never_ran_are_skipped_after_an_error_and_cancelled_otherwise() {
        assert_eq!(leftover_state(FinalStatus::Error), TaskState::Skipped);
        assert_eq!(leftover_state(FinalStatus::Cancelled), TaskState::Cancelled);
        assert_eq!(leftover_state(FinalStatus::Finished), TaskState::Cancelled);
    }

    #[test]
    fn a_submitted_view_waits_with_every_task_waiting() {
        let view = fold(&[submitted()]).unwrap();
        assert_eq!((view.status.as_str(), view.attempt), ("Waiting", 0));
        assert_eq!(view.source.git_ref, "main");
        assert_eq!((view.counts.total, view.counts.waiting), (2, 2));
        assert!(view.tasks.iter().all(|t| t.status == "Waiting"));
    }

    #[test]
    fn a_cancel_request_ends_a_waiting_queue_and_only_marks_a_running_one() {
        let mut waiting = fold(&[submitted()]).unwrap();
        assert!(apply_cancel_requested(&mut waiting, None, "t"));
        assert_eq!(waiting.status, "Cancelled");
        assert_eq!(
            waiting.reason.as_deref(),
            Some("cancelled while it was waiting, before any worker started it")
        );
        let mut by_user = fold(&[submitted()]).unwrap();
        apply_cancel_requested(&mut by_user, Some("cancelled by a user"), "t");
        assert_eq!(
            by_user.reason.as_deref(),
            Some("cancelled by a user while it was waiting, before any worker started it")
        );
        assert_eq!(waiting.finished_at.as_deref(), Some("t"));

        let mut queue = running();
        assert!(apply_cancel_requested(&mut queue, Some("user"), "t"));
        assert!(queue.cancel_requested);
        assert_eq!((queue.status.as_str(), queue.reason), ("Running", None));
    }

    #[test]
    fn a_new_attempt_clears_the_run_before_it() {
        let mut queue = running();
        apply_stage_started(&mut queue, (Stage::Checkout, None), "t");
        apply_task_started(&mut queue, "t1", None, "t");
        assert!(apply_started(&mut queue, "w9", 2, "later"));
        assert_eq!(queue.attempt, 2);
        assert_eq!(queue.worker.as_deref(), Some("w9"));
        assert_eq!(queue.started_at.as_deref(), Some("later"));
        assert!(queue.stages.is_empty() && queue.commit.is_none());
        assert!(queue
            .tasks
            .iter()
            .all(|t| t.status == "Waiting" && t.started_at.is_none()));
    }

    #[test]
    fn a_stage_is_added_once_and_keeps_the_commit_it_names() {
        let mut queue = running();
        assert!(apply_stage_started(
            &mut queue,
            (Stage::Checkout, None),
            "t0"
        ));
        let context = CommitContext {
            subject: "fix: uart".into(),
            author: "Ann <a@x>".into(),
            date: "2026-01-02T03:04:05Z".into(),
            first_parent_depth: 41,
        };
        let ended = |commit| StageEnd {
            status: "ok",
            duration_ms: 7,
            commit,
            context: commit.map(|_| &context),
            message: Some("done"),
        };
        assert!(apply_stage_finished(
            &mut queue,
            (Stage::Checkout, None),
            ended(None),
            "t1"
        ));
        assert_eq!(
            queue.commit.as_deref(),
            Some("abc"),
            "no commit keeps the old one"
        );
        apply_stage_finished(
            &mut queue,
            (Stage::Checkout, None),
            ended(Some("def")),
            "t2",
        );
        assert_eq!(queue.commit.as_deref(), Some("def"));
        assert_eq!(queue.commit_context.as_ref(), Some(&context));
        assert_eq!(queue.stages.len(), 1);
        let stage = &queue.stages[0];
        assert_eq!((stage.status.as_str(), stage.duration_ms), ("ok", Some(7)));
        assert_eq!(stage.started_at.as_deref(), Some("t0"));
        assert_eq!(stage.finished_at.as_deref(), Some("t2"));
        assert_eq!(stage.message.as_deref(), Some("done"));
    }

    #[test]
    fn a_build_restored_from_the_cache_shows_as_cached() {
        let message =
            "build outputs restored from the cache (key 0123456789ab, 3 files); build skipped";
        let view = fold(&[
            submitted(),
            started(1),
            event(EventBody::StageStarted {
                stage: Stage::Build,
                attempt: 1,
            }),
            event(EventBody::StageFinished {
                stage: Stage::Build,
                attempt: 1,
                outcome: testarena_events::StageOutcome::Cached,
                duration_ms: 3,
                commit: None,
                commit_context: None,
                message: Some(message.into()),
            }),
        ])
        .unwrap();
        let build = &view.stages[0];
        assert_eq!(
            (build.stage.as_str(), build.status.as_str()),
            ("build", "cached")
        );
        assert_eq!(build.message.as_deref(), Some(message));
        assert_eq!(view.status, "Running", "a cached build ends nothing");
    }

    #[test]
    fn a_task_event_changes_only_a_task_of_the_queue() {
        let mut queue = running();
        assert!(!apply_task_started(&mut queue, "nope", None, "t"));
        let ended = || TaskEnd {
            result: TaskResult::Fail,
            exit_code: Some(1),
            duration_ms: 9,
            junit: None,
            message: Some("boom"),
            tries: &[],
        };
        assert!(!apply_task_finished(&mut queue, "nope", ended(), "t"));
        assert!(apply_task_started(&mut queue, "t1", None, "t0"));
        assert_eq!(queue.tasks[0].status, "Running");
        assert!(apply_task_finished(&mut queue, "t1", ended(), "t1"));
        let task = &queue.tasks[0];
        assert_eq!(
            (task.status.as_str(), task.result),
            ("Finished", Some(TaskResult::Fail))
        );
        assert_eq!((task.exit_code, task.duration_ms), (Some(1), Some(9)));
        assert_eq!(task.started_at.as_deref(), Some("t0"));
        assert_eq!(task.message.as_deref(), Some("boom"));
        // Started again (a retried task), its result is gone.
        apply_task_started(&mut queue, "t1", None, "t2");
        assert_eq!(
            (queue.tasks[0].result.as_ref(), queue.tasks[0].exit_code),
            (None, None)
        );
    }

    #[test]
    fn finishing_cancels_what_still_runs() {
        let mut queue = running();
        apply_stage_started(&mut queue, (Stage::Checkout, None), "t");
        apply_task_started(&mut queue, "t1", None, "t");
        finish(&mut queue, FinalStatus::Error, Some("boom".into()), "end");
        assert_eq!(queue.status, "Error");
        assert_eq!(queue.tasks[0].status, "Cancelled");
        assert_eq!(queue.tasks[0].finished_at.as_deref(), Some("end"));
        assert_eq!(queue.tasks[1].status, "Skipped");
        assert_eq!(queue.stages[0].status, "cancelled");
    }

    fn sharded_submitted(shards: u8) -> Event {
        let mut event = submitted();
        if let EventBody::Submitted { shards: s, .. } = &mut event.body {
            *s = shards;
        }
        event
    }

    fn of(shard: u8, body: EventBody) -> Event {
        event(body).of_shard(Some(shard))
    }

    fn shard_started(shard: u8, worker: &str, attempt: u32) -> Event {
        let body = EventBody::Started {
            worker: worker.into(),
            attempt,
        };
        of(shard, body)
    }

    fn task_started(task: &str, attempt: u32) -> EventBody {
        EventBody::TaskStarted {
            task_id: TaskId::parse(task).unwrap(),
            attempt,
        }
    }

    #[test]
    fn a_sharded_queue_shows_each_shard_and_which_worker_ran_each_task() {
        let checkout = |attempt| EventBody::StageStarted {
            stage: Stage::Checkout,
            attempt,
        };
        let view = fold(&[
            sharded_submitted(4),
            shard_started(0, "wa", 1),
            of(0, checkout(1)),
            shard_started(1, "wb", 1),
            of(1, checkout(1)),
            of(0, task_started("t1", 1)),
            of(1, task_started("t2", 1)),
            task_finished("t1", 1, TaskResult::Pass).of_shard(Some(0)),
            of(0, EventBody::ShardFinished { attempt: 1 }),
        ])
        .unwrap();
        assert_eq!(view.shards.len(), 2, "no more shards than tasks");
        assert_eq!(view.status, "Running");
        assert_eq!(view.shards[0].status, "finished");
        assert_eq!(view.shards[1].worker.as_deref(), Some("wb"));
        let ran: Vec<(Option<&str>, Option<u8>)> = view
            .tasks
            .iter()
            .map(|t| (t.worker.as_deref(), t.shard))
            .collect();
        assert_eq!(ran, [(Some("wa"), Some(0)), (Some("wb"), Some(1))]);
        let stages: Vec<Option<u8>> = view.stages.iter().map(|s| s.shard).collect();
        assert_eq!(stages, [Some(0), Some(1)], "a checkout per shard");
        assert_eq!(view.counts.pass, 1);
        assert_eq!(view.counts.running, 1);
    }

    #[test]
    fn a_shards_new_attempt_replaces_only_that_shard_and_its_stale_events_are_ignored() {
        let view = fold(&[
            sharded_submitted(2),
            shard_started(0, "wa", 1),
            shard_started(1, "wb", 1),
            of(1, task_started("t2", 1)),
            shard_started(1, "wc", 2),
            task_finished("t2", 1, TaskResult::Fail).of_shard(Some(1)),
            of(1, task_started("t2", 2)),
            task_finished("t2", 2, TaskResult::Pass).of_shard(Some(1)),
        ])
        .unwrap();
        assert_eq!(view.shards[0].worker.as_deref(), Some("wa"));
        assert_eq!(
            (view.shards[1].worker.as_deref(), view.shards[1].attempt),
            (Some("wc"), 2)
        );
        let t2 = &view.tasks[1];
        assert_eq!(
            (t2.result, t2.worker.as_deref()),
            (Some(TaskResult::Pass), Some("wc"))
        );
        assert_eq!(
            view.worker.as_deref(),
            Some("wa"),
            "the first shard's worker"
        );
    }
}
