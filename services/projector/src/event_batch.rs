//! How one batch of events changes the queues it touches: the pure part of
//! the runner's events step, between loading the views and storing them.
//! Each queue starts from what the database holds ([`Stored`]), folds its
//! events through [`projection::apply`], and ends with one [`Write`].
//!
//! A queue deleted before the batch, or by an earlier event of it, ignores
//! every later event, so a replay never brings it back.
//!
//! `queue_status.json` is rewritten only when a batch changes the queue's
//! status (or makes it): readers of the folder see `Waiting`, `Running` and
//! the end, each with the view as it was then, and the last one is the
//! whole final view. Every other change is in the row, which the API
//! serves. (Each rewrite is a new inode and a freed one; a queue's life
//! took about seven of them, one per batch that touched it.)

use std::collections::HashMap;

use testarena_events::{Event, EventBody, QueueStatus, TestEvent};

use crate::expected_durations::ExpectedDurations;
use crate::projection::{self, Change};
use crate::test_history::TestHistory;
use crate::view::QueueView;

/// One queue through a batch.
#[derive(Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every queue is `Live`; a box would cost an allocation per queue per batch"
)]
pub(crate) enum QueueFold {
    /// Deleted before this batch: its events are ignored, nothing is written.
    WasDeleted,
    /// Live, or not submitted yet (`view` is `None`).
    Live {
        view: Option<QueueView>,
        /// Sequence of the queue's `submitted` event.
        submitted_seq: u64,
        /// The last event that changed the view (0: none in this batch).
        updated_seq: u64,
        /// Whether an event of this batch changed the view.
        changed: bool,
        /// Its status before the batch; `None` for a queue it submits.
        status_before: Option<QueueStatus>,
    },
    /// Deleted by this batch's event at `seq`; later events are ignored.
    Deleted { seq: u64 },
}

/// What the database knows of one queue before a batch touches it (read by
/// `store::load_many`).
pub(crate) enum Stored {
    Deleted,
    View {
        view: Box<QueueView>,
        submitted_seq: u64,
    },
    Unknown,
}

/// What storing a batch does for one queue.
#[derive(Debug, PartialEq)]
pub(crate) enum Write<'a> {
    /// Remove the queue's row and folder, recording the deletion at `seq`.
    Delete { seq: u64 },
    /// Upsert the row, and rewrite `queue_status.json` when `status_changed`.
    Save {
        view: &'a QueueView,
        submitted_seq: u64,
        updated_seq: u64,
        /// The queue is new, or its status is not what it was before the batch.
        status_changed: bool,
    },
    /// The batch did not change it.
    Nothing,
}

impl QueueFold {
    pub(crate) fn from_stored(stored: Stored) -> Self {
        let (view, submitted_seq) = match stored {
            Stored::Deleted => return QueueFold::WasDeleted,
            Stored::View {
                view,
                submitted_seq,
            } => (Some(*view), submitted_seq),
            Stored::Unknown => (None, 0),
        };
        QueueFold::Live {
            status_before: view.as_ref().map(|v| v.status),
            view,
            submitted_seq,
            updated_seq: 0,
            changed: false,
        }
    }

    /// Applies the event at stream sequence `seq`; a submit reads the
    /// expected durations, a task's `PASS` or `FAIL` records one, a task's
    /// end records its test runs.
    fn step(&mut self, seq: u64, event: &Event, ledgers: &mut Ledgers<'_>) {
        let QueueFold::Live {
            view,
            submitted_seq,
            updated_seq,
            changed,
            ..
        } = self
        else {
            return;
        };
        match projection::apply(view, event) {
            Change::Upsert => {
                let queue = view.as_mut().expect("an upserted queue has a view");
                if matches!(event.body, EventBody::Submitted { .. }) {
                    *submitted_seq = seq;
                    ledgers.durations.fill(queue);
                } else {
                    ledgers.durations.observe(queue, event);
                    ledgers.history.observe(queue, seq, event);
                }
                *updated_seq = seq;
                *changed = true;
            }
            Change::Delete => {
                ledgers.history.forget_queue(event.queue_id.as_str());
                *self = QueueFold::Deleted { seq }
            }
            Change::Ignore => {}
        }
    }

    pub(crate) fn write(&self) -> Write<'_> {
        match self {
            QueueFold::Deleted { seq } => Write::Delete { seq: *seq },
            QueueFold::Live {
                view: Some(view),
                submitted_seq,
                updated_seq,
                changed: true,
                status_before,
            } => Write::Save {
                view,
                submitted_seq: *submitted_seq,
                updated_seq: *updated_seq,
                status_changed: *status_before != Some(view.status),
            },
            QueueFold::WasDeleted | QueueFold::Live { .. } => Write::Nothing,
        }
    }
}

/// The queues `events` touch, each once, in the order they first appear:
/// all of them are loaded in one query, and written in this order.
pub(crate) fn queues_in_order(events: &[(u64, Event)]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (_, event) in events {
        if seen.insert(event.queue_id.as_str()) {
            order.push(event.queue_id.to_string());
        }
    }
    order
}

/// What a batch folds into besides the queues: tables read and written in
/// stream order.
pub(crate) struct Ledgers<'a> {
    pub durations: &'a mut ExpectedDurations,
    pub history: &'a mut TestHistory,
}

/// Folds `events` (stream sequence, event) into the queues of `order`,
/// starting from `stored` (an id it lacks is unknown), and with
/// `test_events` into the ledgers, all in stream order; the queues in `order`.
pub(crate) fn fold_batch(
    order: Vec<String>,
    mut stored: HashMap<String, Stored>,
    events: &[(u64, Event)],
    test_events: &[(u64, TestEvent)],
    mut ledgers: Ledgers<'_>,
) -> Vec<(String, QueueFold)> {
    let index: HashMap<String, usize> = order
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i))
        .collect();
    let mut folds: Vec<(String, QueueFold)> = order
        .into_iter()
        .map(|id| {
            let from = stored.remove(&id).unwrap_or(Stored::Unknown);
            (id, QueueFold::from_stored(from))
        })
        .collect();
    let mut tests = test_events.iter().peekable();
    for (seq, event) in events {
        while let Some((at, test)) = tests.next_if(|(at, _)| at < seq) {
            ledgers.history.apply_test_event(*at, test);
        }
        let i = index[event.queue_id.as_str()];
        folds[i].1.step(*seq, event, &mut ledgers);
    }
    for (at, test) in tests {
        ledgers.history.apply_test_event(*at, test);
    }
    folds
}

#[cfg(test)]
mod tests {
    use testarena_events::{QueueId, RepoUrl, ScenarioPath, Source, TaskId, TaskResult, TaskSpec};

    use super::*;

    fn event(queue: &str, body: EventBody) -> Event {
        Event::new(QueueId::parse(queue).unwrap(), body)
    }

    fn submitted(queue: &str) -> Event {
        let source = Source::parse("/repo", "main").unwrap();
        event(queue, EventBody::submitted(source, None, Vec::new()))
    }

    /// A queue of one task `t` in `repo`.
    fn submitted_task(queue: &str, repo: &str) -> Event {
        let mut event = submitted(queue);
        if let EventBody::Submitted { source, tasks, .. } = &mut event.body {
            source.repo = RepoUrl::parse(repo).unwrap();
            tasks.push(TaskSpec {
                id: TaskId::parse("t").unwrap(),
                scenario: ScenarioPath::parse("t.sh").unwrap(),
                timeout_s: None,
                retries: None,
            });
        }
        event
    }

    fn task_finished(queue: &str, result: TaskResult, duration_ms: u64) -> Event {
        event(
            queue,
            EventBody::TaskFinished {
                task_id: TaskId::parse("t").unwrap(),
                attempt: 1,
                result,
                exit_code: None,
                duration_ms,
                junit: None,
                message: None,
                tries: Vec::new(),
            },
        )
    }

    fn expected(folds: &[(String, QueueFold)], queue: &str) -> Option<u64> {
        let (
            _,
            QueueFold::Live {
                view: Some(view), ..
            },
        ) = folds.iter().find(|(id, _)| id == queue).unwrap()
        else {
            panic!("{queue} has no view");
        };
        view.tasks[0].expected_duration_ms
    }

    #[test]
    fn a_submit_expects_the_last_pass_or_fail_of_the_task_before_it_in_stream_order() {
        let mut durations = ExpectedDurations::default();
        let events: Vec<(u64, Event)> = (1..)
            .zip([
                submitted_task("a", "/repo"),
                started("a", 1),
                task_finished("a", TaskResult::Pass, 700),
                submitted_task("b", "/repo"),
                submitted_task("other", "/elsewhere"),
                started("b", 1),
                task_finished("b", TaskResult::Timeout, 9000),
                submitted_task("c", "/repo"),
                started("c", 1),
                task_finished("c", TaskResult::Fail, 800),
            ])
            .collect();
        let folds = fold_batch(
            queues_in_order(&events),
            HashMap::new(),
            &events,
            &[],
            Ledgers {
                durations: &mut durations,
                history: &mut TestHistory::default(),
            },
        );
        assert_eq!(expected(&folds, "a"), None, "no earlier run");
        assert_eq!(expected(&folds, "b"), Some(700));
        assert_eq!(expected(&folds, "other"), None, "another repository");
        assert_eq!(
            expected(&folds, "c"),
            Some(700),
            "a TIMEOUT is not a duration"
        );
        let key = ("/repo".to_owned(), String::new(), "t".to_owned());
        assert_eq!(durations.take_changed(), [(key, 800)]);
        assert_eq!(durations.take_changed(), [], "taken once");

        // The next batch starts from what the table holds.
        let next: Vec<(u64, Event)> = vec![(20, submitted_task("d", "/repo"))];
        let folds = fold_batch(
            queues_in_order(&next),
            HashMap::new(),
            &next,
            &[],
            Ledgers {
                durations: &mut durations,
                history: &mut TestHistory::default(),
            },
        );
        assert_eq!(expected(&folds, "d"), Some(800));
    }

    fn started(queue: &str, attempt: u32) -> Event {
        event(
            queue,
            EventBody::Started {
                worker: "w".into(),
                attempt,
            },
        )
    }

    fn deleted(queue: &str) -> Event {
        event(queue, EventBody::Deleted {})
    }

    /// `a`'s stored view, submitted at sequence 3.
    fn stored_a() -> HashMap<String, Stored> {
        let mut view = None;
        projection::apply(&mut view, &submitted("a"));
        let view = Box::new(view.unwrap());
        HashMap::from([(
            "a".to_owned(),
            Stored::View {
                view,
                submitted_seq: 3,
            },
        )])
    }

    fn fold(stored: HashMap<String, Stored>, events: Vec<Event>) -> Vec<(String, QueueFold)> {
        let events: Vec<(u64, Event)> = (10..).zip(events).collect();
        fold_batch(
            queues_in_order(&events),
            stored,
            &events,
            &[],
            Ledgers {
                durations: &mut ExpectedDurations::default(),
                history: &mut TestHistory::default(),
            },
        )
    }

    #[test]
    fn queues_come_once_in_the_order_they_first_appear() {
        let events: Vec<(u64, Event)> = [submitted("b"), submitted("a"), started("b", 1)]
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i as u64, e))
            .collect();
        assert_eq!(queues_in_order(&events), ["b", "a"]);
    }

    #[test]
    fn a_changed_queue_is_saved_with_the_sequences_that_changed_it() {
        let folds = fold(
            HashMap::new(),
            vec![submitted("b"), started("b", 1), started("b", 1)],
        );
        let Write::Save {
            view,
            submitted_seq,
            updated_seq,
            ..
        } = folds[0].1.write()
        else {
            panic!("{:?}", folds[0]);
        };
        assert_eq!(view.status, "Running");
        // The repeated `started` (12) changed nothing.
        assert_eq!((submitted_seq, updated_seq), (10, 11));
    }

    #[test]
    fn a_stored_queue_keeps_its_submitted_sequence() {
        let folds = fold(stored_a(), vec![started("a", 1)]);
        assert!(matches!(
            folds[0].1.write(),
            Write::Save {
                submitted_seq: 3,
                updated_seq: 10,
                ..
            }
        ));
    }

    #[test]
    fn a_batch_that_changes_nothing_writes_nothing() {
        // A duplicate submit of a stored queue; an event of a queue never submitted.
        let folds = fold(stored_a(), vec![submitted("a"), started("x", 1)]);
        assert_eq!(folds[0].1.write(), Write::Nothing);
        assert_eq!(folds[1].1.write(), Write::Nothing);
    }

    #[test]
    fn a_deleted_queue_ignores_later_events_of_the_batch() {
        let folds = fold(
            stored_a(),
            vec![started("a", 1), deleted("a"), submitted("a"), deleted("a")],
        );
        assert_eq!(folds[0].1, QueueFold::Deleted { seq: 11 });
        assert_eq!(folds[0].1.write(), Write::Delete { seq: 11 });
    }

    #[test]
    fn a_queue_deleted_before_the_batch_stays_gone() {
        let stored = HashMap::from([("a".to_owned(), Stored::Deleted)]);
        let folds = fold(stored, vec![submitted("a"), deleted("a")]);
        assert_eq!(folds[0].1, QueueFold::WasDeleted);
        assert_eq!(folds[0].1.write(), Write::Nothing);
    }

    /// A one-task queue's events as a worker sends them, each landing in
    /// a batch of its own (the worst case while following).
    fn life(queue: &str) -> Vec<Event> {
        use testarena_events::{FinalStatus, Stage, StageOutcome};
        let stage_finished = |stage| EventBody::StageFinished {
            stage,
            attempt: 1,
            outcome: StageOutcome::Ok,
            duration_ms: 5,
            commit: None,
            commit_context: None,
            message: None,
        };
        vec![
            submitted_task(queue, "/repo"),
            event(
                queue,
                EventBody::Dispatched {
                    worker: "w".into(),
                    attempt_base: 0,
                    submitted_seq: 1,
                    board: None,
                },
            ),
            started(queue, 1),
            event(queue, stage_finished(Stage::Checkout)),
            event(queue, stage_finished(Stage::Build)),
            event(
                queue,
                EventBody::TaskStarted {
                    task_id: TaskId::parse("t").unwrap(),
                    attempt: 1,
                },
            ),
            task_finished(queue, TaskResult::Pass, 10),
            event(
                queue,
                EventBody::Finished {
                    status: FinalStatus::Finished,
                    attempt: Some(1),
                    reason: None,
                },
            ),
        ]
    }

    #[test]
    fn a_queue_life_rewrites_its_status_file_once_per_status_and_its_row_per_change() {
        let (mut stored, mut rows, mut files) = (HashMap::new(), 0, Vec::new());
        for (seq, event) in (1..).zip(life("a")) {
            let folds = fold_batch(
                vec!["a".to_owned()],
                std::mem::take(&mut stored),
                &[(seq, event)],
                &[],
                Ledgers {
                    durations: &mut ExpectedDurations::default(),
                    history: &mut TestHistory::default(),
                },
            );
            if let Write::Save {
                view,
                status_changed,
                ..
            } = folds[0].1.write()
            {
                rows += 1;
                if status_changed {
                    files.push(view.clone());
                }
            }
            let (_, QueueFold::Live { view, .. }) = folds.into_iter().next().unwrap() else {
                panic!("a stays live");
            };
            stored.insert(
                "a".to_owned(),
                Stored::View {
                    view: Box::new(view.unwrap()),
                    submitted_seq: 1,
                },
            );
        }
        // Every event but `dispatched` changes the row; the file changes
        // with the status alone.
        assert_eq!(rows, 7);
        let statuses: Vec<&str> = files.iter().map(|v| v.status.as_str()).collect();
        assert_eq!(statuses, ["Waiting", "Running", "Finished"]);
        let Some(Stored::View { view: last, .. }) = stored.get("a") else {
            panic!("a is stored");
        };
        assert_eq!(
            files.last(),
            Some(&**last),
            "the last file is the final view"
        );
    }

    #[test]
    fn a_whole_life_in_one_batch_writes_the_file_once() {
        let folds = fold(HashMap::new(), life("a"));
        assert!(matches!(
            folds[0].1.write(),
            Write::Save {
                status_changed: true,
                ..
            }
        ));
    }
}
