//! How long a task should take: the duration of the last `PASS` or `FAIL`
//! run of the same task id, repository and profile in an earlier queue.
//! Folded with the events in stream order — a `task_finished` records, a
//! `submitted` reads — so `--rebuild` gives every view the same values.
//! Kept in the `expected_durations` table; `TIMEOUT` and `ERROR` runs say
//! nothing about how long the task takes, so they are not recorded.

use std::collections::{BTreeSet, HashMap};

use testarena_events::{Event, EventBody, TaskResult};

use crate::view::QueueView;

/// (repository, profile (`""`: the worker's default), task id).
pub(crate) type Key = (String, String, String);

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ExpectedDurations {
    known: HashMap<Key, u64>,
    /// Keys recorded since the last `take_changed`, to store with the batch.
    changed: BTreeSet<Key>,
}

fn key(view: &QueueView, task_id: &str) -> Key {
    (
        view.source.repo.clone(),
        view.profile.clone().unwrap_or_default(),
        task_id.to_owned(),
    )
}

impl ExpectedDurations {
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = (Key, u64)>) -> Self {
        Self {
            known: rows.into_iter().collect(),
            changed: BTreeSet::new(),
        }
    }

    /// Gives a just-submitted queue's tasks their expected durations.
    pub(crate) fn fill(&self, view: &mut QueueView) {
        for i in 0..view.tasks.len() {
            let expected = self.known.get(&key(view, &view.tasks[i].id)).copied();
            view.tasks[i].expected_duration_ms = expected;
        }
    }

    /// Records a `task_finished` that `view` (after it) took: a `PASS` or
    /// `FAIL` of the shown attempt.
    pub(crate) fn observe(&mut self, view: &QueueView, event: &Event) {
        let EventBody::TaskFinished {
            task_id,
            result: TaskResult::Pass | TaskResult::Fail,
            duration_ms,
            ..
        } = &event.body
        else {
            return;
        };
        let key = key(view, task_id.as_str());
        self.known.insert(key.clone(), *duration_ms);
        self.changed.insert(key);
    }

    /// The entries recorded since the last call, to store.
    pub(crate) fn take_changed(&mut self) -> Vec<(Key, u64)> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|key| {
                let ms = self.known[&key];
                (key, ms)
            })
            .collect()
    }
}
