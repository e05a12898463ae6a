//! Test history as one more projection: each `task_finished` records a run
//! of the task (with its tries) and one per JUnit case of its last try;
//! each test event sets or lifts a quarantine. Folded with the queue events in stream order
//! (so a quarantine applies to every task that finishes after it), kept in
//! the `tests` and `test_runs` tables. Pure: the batch's changes are taken
//! with [`TestHistory::take_changes`] and stored by the runner.
//!
//! A quarantined test's `FAIL` or `TIMEOUT` is excused in the queue view
//! (`quarantined`, `counts.quarantined`), so the verdict decided when the
//! queue ends does not count it.

use std::collections::{BTreeMap, HashSet};

use testarena_events::{
    Event, EventBody, TaskResult, TestEvent, TestEventBody, TestKey, TestRun, MAX_CASE_NAME,
};

use crate::view::{QueueView, TaskView};

/// One run to store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunRow {
    pub key: TestKey,
    /// The `task_finished` event's stream sequence.
    pub seq: u64,
    pub run: TestRun,
}

/// What a batch changed, to store with it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct HistoryChanges {
    /// Tests seen for the first time in this batch, in stream order (the
    /// order their ids are given in, so a rebuild gives the same ids).
    pub new_tests: Vec<TestKey>,
    /// Each test's quarantine as it ends the batch: `Some(reason)` or lifted.
    pub quarantines: BTreeMap<TestKey, Option<String>>,
    /// Every test event of the batch, for each test's quarantine history.
    pub quarantine_events: Vec<(u64, TestEvent)>,
    pub runs: Vec<RunRow>,
}

#[derive(Debug, Default)]
pub(crate) struct TestHistory {
    /// Quarantined tests, as committed plus the current batch.
    quarantined: HashSet<TestKey>,
    /// Tests known to have a row (committed or pending).
    known: HashSet<TestKey>,
    pending: HistoryChanges,
}

impl TestHistory {
    pub(crate) fn from_rows(
        known: impl IntoIterator<Item = TestKey>,
        quarantined: impl IntoIterator<Item = TestKey>,
    ) -> Self {
        Self {
            known: known.into_iter().collect(),
            quarantined: quarantined.into_iter().collect(),
            pending: HistoryChanges::default(),
        }
    }

    pub(crate) fn is_quarantined(&self, key: &TestKey) -> bool {
        self.quarantined.contains(key)
    }

    fn see(&mut self, key: &TestKey) {
        if self.known.insert(key.clone()) {
            self.pending.new_tests.push(key.clone());
        }
    }

    /// A quarantine set or lifted by the event at stream sequence `seq`.
    pub(crate) fn apply_test_event(&mut self, seq: u64, event: &TestEvent) {
        self.see(&event.test);
        self.pending.quarantine_events.push((seq, event.clone()));
        let state = match &event.body {
            TestEventBody::Quarantined { reason, .. } => {
                self.quarantined.insert(event.test.clone());
                Some(reason.clone())
            }
            TestEventBody::Unquarantined { .. } => {
                self.quarantined.remove(&event.test);
                None
            }
        };
        self.pending.quarantines.insert(event.test.clone(), state);
    }

    /// Records the runs of a `task_finished` that `view` (after it) took,
    /// and marks the task quarantined (recounting the view) when a
    /// quarantine excuses its failure.
    pub(crate) fn observe(&mut self, view: &mut QueueView, seq: u64, event: &Event) {
        let EventBody::TaskFinished { task_id, .. } = &event.body else {
            return;
        };
        let Some(index) = view.tasks.iter().position(|t| t.id == task_id.as_str()) else {
            return;
        };
        for row in runs_of(view, &view.tasks[index], seq, &event.at) {
            self.see(&row.key);
            self.pending.runs.push(row);
        }
        let excused = self.excuses(view, &view.tasks[index]);
        if excused {
            view.tasks[index].quarantined = true;
            crate::projection::recount(view);
        }
    }

    /// A failed task is excused when it is quarantined, or when it failed
    /// on JUnit cases and every one of them is.
    fn excuses(&self, view: &QueueView, task: &TaskView) -> bool {
        let failed = task.result.is_some_and(TaskResult::is_retryable);
        if !failed {
            return false;
        }
        let task_key = key(view, task, "");
        if self.is_quarantined(&task_key) {
            return true;
        }
        let failed_cases = task.junit.as_ref().map(|j| j.failed_cases.as_slice());
        match failed_cases {
            Some(cases) if !cases.is_empty() => cases
                .iter()
                .all(|case| self.is_quarantined(&key(view, task, case))),
            _ => false,
        }
    }

    /// Drops the batch's runs of a queue it deleted (stored ones go with
    /// the queue's row).
    pub(crate) fn forget_queue(&mut self, queue_id: &str) {
        self.pending.runs.retain(|row| row.run.queue_id != queue_id);
    }

    pub(crate) fn take_changes(&mut self) -> HistoryChanges {
        std::mem::take(&mut self.pending)
    }
}

fn key(view: &QueueView, task: &TaskView, case: &str) -> TestKey {
    TestKey::trusted(
        &view.source.repo,
        view.profile.as_deref().unwrap_or(""),
        &task.id,
        case,
    )
}

/// The runs a finished task gives: one for the task, whatever its tries
/// (FAIL, FAIL, PASS is one `FLAKY` run ending on try 3, its tries with
/// it), then one per JUnit case of its last try that ran (skipped cases
/// say nothing; a case is named `classname.name` as `failed_cases` names
/// it). A bisect step queue's runs carry its bisect.
fn runs_of(view: &QueueView, task: &TaskView, seq: u64, at: &str) -> Vec<RunRow> {
    let last_try = task.tries.len().max(1) as u32;
    let run = |result: &str, duration_ms: u64| TestRun {
        queue_id: view.id.clone(),
        commit: view.commit.clone(),
        attempt: view.attempt,
        try_number: last_try,
        result: result.to_owned(),
        duration_ms,
        at: at.to_owned(),
        bisect: view.bisect.clone(),
        tries: Vec::new(),
        message: None,
    };
    let Some(result) = task.result else {
        return Vec::new();
    };
    let mut rows = vec![RunRow {
        key: key(view, task, ""),
        seq,
        run: TestRun {
            tries: task.tries.clone(),
            message: (result != TaskResult::Pass)
                .then(|| task_message(task))
                .flatten(),
            ..run(result.as_str(), task.duration_ms.unwrap_or(0))
        },
    }];
    for case in task.junit.iter().flat_map(|j| &j.cases) {
        let result = match case.result.as_str() {
            "passed" => "PASS",
            "failed" => "FAIL",
            "error" => "ERROR",
            _ => continue,
        };
        let name = match &case.classname {
            Some(class) => format!("{class}.{}", case.name),
            None => case.name.clone(),
        };
        if name.is_empty() || name.len() > MAX_CASE_NAME || name.chars().any(char::is_control) {
            continue;
        }
        rows.push(RunRow {
            key: key(view, task, &name),
            seq,
            run: TestRun {
                message: (result != "PASS").then(|| case.message.clone()).flatten(),
                ..run(result, case.time_ms)
            },
        });
    }
    rows
}

/// What a task that did not pass said: its own message, else its first
/// failed JUnit case's (`name: message`), so a failure groups by what broke.
fn task_message(task: &TaskView) -> Option<String> {
    if let Some(message) = &task.message {
        return Some(message.clone());
    }
    let cases = task.junit.iter().flat_map(|j| &j.cases);
    let failed = cases
        .filter(|c| c.result == "failed" || c.result == "error")
        .find(|c| c.message.is_some())?;
    Some(format!("{}: {}", failed.name, failed.message.as_deref()?))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use testarena_events::{JunitCase, JunitSummary, QueueId, Source, TaskId, TaskSpec, TaskTry};

    use super::*;
    use crate::event_batch::{fold_batch, queues_in_order, Ledgers, QueueFold};
    use crate::expected_durations::ExpectedDurations;

    fn event(body: EventBody) -> Event {
        Event::new(QueueId::parse("q1").unwrap(), body)
    }

    fn queue_events(
        result: TaskResult,
        tries: Vec<TaskTry>,
        junit: Option<JunitSummary>,
    ) -> Vec<Event> {
        vec![
            event(EventBody::submitted(
                Source::parse("/repo", "main").unwrap(),
                None,
                vec![TaskSpec::parse("t", "t.sh").unwrap()],
            )),
            event(EventBody::Started {
                worker: "w".into(),
                attempt: 1,
            }),
            event(EventBody::TaskFinished {
                task_id: TaskId::parse("t").unwrap(),
                attempt: 1,
                result,
                exit_code: None,
                duration_ms: 30,
                junit,
                message: None,
                tries,
            }),
            event(EventBody::Finished {
                status: testarena_events::FinalStatus::Finished,
                attempt: Some(1),
                reason: None,
            }),
        ]
    }

    fn quarantine(case: Option<&str>) -> TestEvent {
        TestEvent::new(
            TestKey::parse("/repo", None, "t", case).unwrap(),
            TestEventBody::Quarantined {
                reason: "known".into(),
                by: "user".into(),
                actor: Some("team-fw".into()),
            },
        )
    }

    /// Folds `tests` (at sequences 1..) before the queue's events (after them).
    fn fold(tests: Vec<TestEvent>, queue: Vec<Event>, history: &mut TestHistory) -> QueueView {
        let tests: Vec<(u64, TestEvent)> = (1..).zip(tests).collect();
        let events: Vec<(u64, Event)> = (100..).zip(queue).collect();
        let ledgers = Ledgers {
            durations: &mut ExpectedDurations::default(),
            history,
        };
        let mut folds = fold_batch(
            queues_in_order(&events),
            HashMap::new(),
            &events,
            &tests,
            ledgers,
        );
        match folds.remove(0).1 {
            QueueFold::Live {
                view: Some(view), ..
            } => view,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_retried_task_is_one_flaky_run_with_its_tries_and_passes_the_queue() {
        let try_of = |result, duration_ms| TaskTry {
            result,
            exit_code: Some(i32::from(result != TaskResult::Pass)),
            duration_ms,
        };
        let tries = vec![
            try_of(TaskResult::Fail, 10),
            try_of(TaskResult::Fail, 10),
            try_of(TaskResult::Pass, 20),
        ];
        let mut history = TestHistory::default();
        let view = fold(
            vec![],
            queue_events(TaskResult::Flaky, tries, None),
            &mut history,
        );
        assert_eq!(view.verdict.as_deref(), Some("passed"));
        assert_eq!((view.counts.flaky, view.tasks[0].tries.len()), (1, 3));
        let changes = history.take_changes();
        let runs: Vec<(u32, &str, usize)> = changes
            .runs
            .iter()
            .map(|r| (r.run.try_number, r.run.result.as_str(), r.run.tries.len()))
            .collect();
        assert_eq!(runs, [(3, "FLAKY", 3)], "one run, not three");
        assert_eq!(changes.new_tests.len(), 1);
    }

    #[test]
    fn a_bisect_step_queue_records_its_runs_with_its_bisect() {
        let mut events = queue_events(TaskResult::Fail, vec![], None);
        let EventBody::Submitted { bisect, .. } = &mut events[0].body else {
            panic!("the first event is the submit");
        };
        *bisect = Some(testarena_events::BisectId::parse("b-1").unwrap());
        let mut history = TestHistory::default();
        fold(vec![], events, &mut history);
        let changes = history.take_changes();
        assert_eq!(changes.runs[0].run.bisect.as_deref(), Some("b-1"));
    }

    #[test]
    fn a_quarantine_earlier_in_the_stream_excuses_a_failure() {
        let mut history = TestHistory::default();
        let view = fold(
            vec![quarantine(None)],
            queue_events(TaskResult::Fail, vec![], None),
            &mut history,
        );
        assert!(view.tasks[0].quarantined);
        assert_eq!(
            (view.counts.fail, view.counts.quarantined),
            (0, 1),
            "counted once"
        );
        assert_eq!(view.verdict.as_deref(), Some("passed"));
        let changes = history.take_changes();
        assert_eq!(changes.runs.len(), 1, "still recorded");
        assert_eq!(
            changes.quarantines.values().next(),
            Some(&Some("known".to_owned()))
        );
    }

    #[test]
    fn a_failure_is_excused_only_when_every_failed_case_is_quarantined() {
        let case = |name: &str, result: &str| JunitCase {
            name: name.into(),
            classname: Some("uart".into()),
            time_ms: 5,
            result: result.into(),
            message: None,
        };
        let junit = JunitSummary {
            tests: 3,
            failures: 2,
            failed_cases: vec!["uart.a".into(), "uart.b".into()],
            cases: vec![
                case("a", "failed"),
                case("b", "failed"),
                case("c", "skipped"),
            ],
            ..Default::default()
        };
        let events = || queue_events(TaskResult::Fail, vec![], Some(junit.clone()));
        let mut history = TestHistory::default();
        let view = fold(vec![quarantine(Some("uart.a"))], events(), &mut history);
        assert!(!view.tasks[0].quarantined, "uart.b is not quarantined");
        assert_eq!(view.verdict.as_deref(), Some("failed"));
        let changes = history.take_changes();
        let cases: Vec<&str> = changes.runs.iter().map(|r| r.key.case()).collect();
        assert_eq!(
            cases,
            ["", "uart.a", "uart.b"],
            "the task, then each case that ran"
        );

        let mut history = TestHistory::default();
        let both = vec![quarantine(Some("uart.a")), quarantine(Some("uart.b"))];
        let view = fold(both, events(), &mut history);
        assert!(view.tasks[0].quarantined);
    }
}
