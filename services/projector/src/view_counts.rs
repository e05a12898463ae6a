//! The `/metrics` counts of the views — queues by status, tasks by result
//! (or status while unfinished) — kept as running totals: each batch adds
//! what its views count now and takes away what they counted before, so a
//! scrape reads a few rows however long the history. Pure; `store` writes
//! the changes in the batch's transaction.

use std::collections::{BTreeMap, HashMap};

use crate::event_batch::Stored;
use crate::view::QueueView;

/// What each stored queue of a batch counted before it.
pub(crate) fn counted(stored: &HashMap<String, Stored>) -> HashMap<String, Counted> {
    stored
        .iter()
        .filter_map(|(id, stored)| match stored {
            Stored::View { view, .. } => Some((id.clone(), Counted::of(view))),
            Stored::Deleted | Stored::Unknown => None,
        })
        .collect()
}

/// What one queue's view adds to the counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counted {
    status: &'static str,
    tasks: Vec<String>,
}

impl Counted {
    pub(crate) fn of(view: &QueueView) -> Self {
        Self {
            status: view.status.as_str(),
            tasks: view
                .tasks
                .iter()
                .map(|t| {
                    t.result
                        .map_or_else(|| t.status.clone(), |r| r.as_str().to_owned())
                })
                .collect(),
        }
    }
}

/// A count's kind, as the `view_counts` table names it.
pub(crate) const QUEUE_STATUS: &str = "queue_status";
pub(crate) const TASK_RESULT: &str = "task_result";

/// A batch's changes to the counts: (kind, key) → how much to add.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CountChanges(BTreeMap<(&'static str, String), i64>);

impl CountChanges {
    /// A queue's view went from `before` (none: it is new) to `after`
    /// (none: it was deleted).
    pub(crate) fn replace(&mut self, before: Option<&Counted>, after: Option<&Counted>) {
        if before == after {
            return;
        }
        if let Some(before) = before {
            self.add(before, -1);
        }
        if let Some(after) = after {
            self.add(after, 1);
        }
    }

    fn add(&mut self, counted: &Counted, sign: i64) {
        *self
            .0
            .entry((QUEUE_STATUS, counted.status.to_owned()))
            .or_default() += sign;
        for task in &counted.tasks {
            *self.0.entry((TASK_RESULT, task.clone())).or_default() += sign;
        }
    }

    /// The changes that are not zero: (kind, key, delta).
    pub(crate) fn rows(&self) -> impl Iterator<Item = (&'static str, &str, i64)> {
        self.0
            .iter()
            .filter(|(_, delta)| **delta != 0)
            .map(|((kind, key), delta)| (*kind, key.as_str(), *delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testarena_events::{QueueStatus, TaskResult};

    fn view(status: QueueStatus, tasks: &[(&str, Option<TaskResult>)]) -> QueueView {
        let tasks: Vec<_> = tasks
            .iter()
            .enumerate()
            .map(|(n, (status, result))| {
                serde_json::json!({"id": format!("t{n}"), "scenario": "a", "timeout_s": null,
                    "status": status, "result": result, "exit_code": null, "duration_ms": null,
                    "started_at": null, "finished_at": null, "message": null, "junit": null})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "id": "q", "status": status.as_str(), "source": {"repo": "/r", "ref": "main"},
            "commit": null, "profile": null, "attempt": 1, "worker": null,
            "submitted_at": "t", "started_at": null, "finished_at": null, "reason": null,
            "cancel_requested": false, "counts": {"total": 0, "waiting": 0, "running": 0,
            "pass": 0, "fail": 0, "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
            "stages": [], "tasks": tasks
        }))
        .unwrap()
    }

    fn rows(changes: &CountChanges) -> Vec<(&'static str, &str, i64)> {
        changes.rows().collect()
    }

    #[test]
    fn a_new_queue_adds_its_status_and_each_task_and_a_deleted_one_takes_them_away() {
        let waiting = Counted::of(&view(
            QueueStatus::Waiting,
            &[("Waiting", None), ("Waiting", None)],
        ));
        let mut changes = CountChanges::default();
        changes.replace(None, Some(&waiting));
        assert_eq!(
            rows(&changes),
            [(QUEUE_STATUS, "Waiting", 1), (TASK_RESULT, "Waiting", 2)]
        );
        changes.replace(Some(&waiting), None);
        assert_eq!(rows(&changes), []);
    }

    #[test]
    fn a_change_moves_counts_from_the_old_keys_to_the_new_and_results_win_over_statuses() {
        let running = Counted::of(&view(
            QueueStatus::Running,
            &[("Finished", Some(TaskResult::Pass)), ("Running", None)],
        ));
        let finished = Counted::of(&view(
            QueueStatus::Finished,
            &[
                ("Finished", Some(TaskResult::Pass)),
                ("Finished", Some(TaskResult::Flaky)),
            ],
        ));
        let mut changes = CountChanges::default();
        changes.replace(Some(&running), Some(&finished));
        assert_eq!(
            rows(&changes),
            [
                (QUEUE_STATUS, "Finished", 1),
                (QUEUE_STATUS, "Running", -1),
                (TASK_RESULT, "FLAKY", 1),
                (TASK_RESULT, "Running", -1),
            ]
        );
    }

    #[test]
    fn an_unchanged_count_is_no_change() {
        let finished = Counted::of(&view(
            QueueStatus::Finished,
            &[("Finished", Some(TaskResult::Fail))],
        ));
        let mut changes = CountChanges::default();
        changes.replace(Some(&finished), Some(&finished.clone()));
        assert_eq!(rows(&changes), []);
    }
}
