//! A running task's progress in its queue's view, from the log lines that
//! report it (`progress` on a line, set by the worker). Only a task that is
//! `Running` in the attempt the view shows takes it; `projection` clears it
//! when the task ends, so a late log batch cannot bring it back, and a
//! rebuild ends with the same view.

use testarena_events::{LineProgress, LogBatch, QueueStatus, TaskProgress, TaskState};

use crate::view::QueueView;

/// One progress report of a batch: (attempt, task id, progress).
pub(crate) type Report = (u32, String, LineProgress);

/// The progress reports of a batch, in order: lines of `task:<id>` sources
/// that carry `progress`.
pub(crate) fn reports(batch: &LogBatch) -> impl Iterator<Item = Report> + '_ {
    batch.lines.iter().filter_map(move |line| {
        let progress = line.progress?;
        let task = line.source.strip_prefix("task:")?;
        Some((batch.attempt, task.to_owned(), progress))
    })
}

/// Applies one report; whether the view changed.
pub(crate) fn apply(view: &mut QueueView, (attempt, task_id, progress): &Report) -> bool {
    if view.attempt != *attempt || view.status != QueueStatus::Running {
        return false;
    }
    let Some(task) = view.tasks.iter_mut().find(|t| t.id == *task_id) else {
        return false;
    };
    if task.status != TaskState::Running.status_word() {
        return false;
    }
    let progress = Some(TaskProgress {
        done: progress.done,
        total: progress.total,
    });
    if task.progress == progress {
        return false;
    }
    task.progress = progress;
    true
}

#[cfg(test)]
mod tests {
    use testarena_events::{LogLine, LogStream, QueueId};

    use super::*;

    fn view(attempt: u32, task_status: &str) -> QueueView {
        serde_json::from_value(serde_json::json!({
            "id": "q", "status": "Running", "source": {"repo": "/r", "ref": "main"},
            "commit": null, "profile": null, "attempt": attempt, "worker": "w",
            "submitted_at": "t", "started_at": "t", "finished_at": null, "reason": null,
            "cancel_requested": false, "counts": {"total": 1, "waiting": 0, "running": 1,
            "pass": 0, "fail": 0, "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
            "stages": [], "tasks": [{"id": "t1", "scenario": "a", "timeout_s": null,
            "status": task_status, "result": null, "exit_code": null, "duration_ms": null,
            "started_at": "t", "finished_at": null, "message": null, "junit": null}]
        }))
        .unwrap()
    }

    fn report(attempt: u32, task: &str, done: u32) -> Report {
        (attempt, task.into(), LineProgress { done, total: 10 })
    }

    #[test]
    fn a_running_task_of_the_shown_attempt_takes_the_latest_progress() {
        let mut queue = view(2, "Running");
        assert!(apply(&mut queue, &report(2, "t1", 3)));
        assert_eq!(
            queue.tasks[0].progress,
            Some(TaskProgress { done: 3, total: 10 })
        );
        assert!(
            !apply(&mut queue, &report(2, "t1", 3)),
            "the same again changes nothing"
        );
        assert!(apply(&mut queue, &report(2, "t1", 4)));
        assert_eq!(queue.tasks[0].progress.unwrap().done, 4);
    }

    #[test]
    fn other_attempts_tasks_and_states_take_nothing() {
        for (mut queue, report) in [
            (view(2, "Running"), report(1, "t1", 3)),
            (view(2, "Running"), report(2, "nope", 3)),
            (view(2, "Finished"), report(2, "t1", 3)),
            (view(2, "Waiting"), report(2, "t1", 3)),
        ] {
            assert!(!apply(&mut queue, &report));
            assert_eq!(queue.tasks[0].progress, None);
        }
        let mut ended = view(2, "Running");
        ended.status = QueueStatus::Cancelled;
        assert!(!apply(&mut ended, &report(2, "t1", 3)));
    }

    #[test]
    fn reports_come_from_task_lines_with_progress_only() {
        let mut counted = LogLine::new(1, "task:t1".into(), LogStream::Stdout, "[3/10]".into());
        counted.progress = Some(LineProgress { done: 3, total: 10 });
        let mut build = counted.clone();
        build.source = "build".into();
        let plain = LogLine::new(1, "task:t1".into(), LogStream::Stdout, "hi".into());
        let batch = LogBatch {
            v: 1,
            queue_id: QueueId::parse("q").unwrap(),
            attempt: 2,
            shard: None,
            lines: vec![plain, build, counted],
        };
        assert_eq!(reports(&batch).collect::<Vec<_>>(), [report(2, "t1", 3)]);
    }
}
