//! Pure: which queues `--retention-days` expires, and which of a queue's
//! event subjects leave the events stream when it does.
//!
//! A queue expires once it ended (`Finished`, `Error`, `Cancelled`) before
//! now − retention; a queue still waiting or running never does, nor a step
//! of a bisect still running (the bisect reads its steps' views and events).
//! An expired queue keeps, in the events stream, the events that say it
//! exists and how it ended (`submitted`, `finished`, `cancel_requested`,
//! `deleted`): so its id is never taken again (the submit is conditional on
//! no `submitted`), a rerun still reads its submit, and the scheduler's fold
//! still sees it ended. Everything else of its subtree goes.

use std::time::Duration;

use testarena_events::QueueStatus;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The kinds of event an expired queue keeps in the events stream.
pub(crate) const KEPT_KINDS: [&str; 4] = ["submitted", "finished", "cancel_requested", "deleted"];

/// How long ended queues keep their events, logs and artifacts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    keep: Duration,
}

impl Retention {
    /// `days` above 0 (a fraction is allowed, for tests: 0.0001 is 8.64 s).
    pub fn days(days: f64) -> Option<Self> {
        (days.is_finite() && days > 0.0 && days <= 36_500.0).then(|| Self {
            keep: Duration::from_secs_f64(days * 86_400.0),
        })
    }

    /// Queues that ended before this instant expire.
    pub(crate) fn cutoff(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.keep
    }

    /// How often the sweep looks: a quarter of the retention, at least once
    /// an hour and at most once a second, so nothing outlives it by much.
    pub(crate) fn sweep_period(&self) -> Duration {
        (self.keep / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
    }
}

/// What the sweep knows of an ended queue that has not expired yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub id: String,
    pub status: QueueStatus,
    /// The view's `finished_at` (RFC 3339), when it has one.
    pub finished_at: Option<String>,
    /// It is a step of a bisect that has not ended.
    pub in_running_bisect: bool,
}

/// Why a queue is not expired now; `None`: it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    NotEnded,
    EndedInsideRetention,
    /// Ended, but its view has no readable `finished_at`: kept rather than
    /// guessed at.
    NoEndTime,
    StepOfRunningBisect,
}

/// Whether `queue` expires at `cutoff`.
pub(crate) fn decide(queue: &Candidate, cutoff: OffsetDateTime) -> Option<Kept> {
    if !queue.status.is_terminal() {
        return Some(Kept::NotEnded);
    }
    if queue.in_running_bisect {
        return Some(Kept::StepOfRunningBisect);
    }
    let ended = queue
        .finished_at
        .as_deref()
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok());
    match ended {
        None => Some(Kept::NoEndTime),
        Some(ended) if ended >= cutoff => Some(Kept::EndedInsideRetention),
        Some(_) => None,
    }
}

/// The ids among `candidates` that expire at `cutoff`.
pub(crate) fn to_expire(candidates: &[Candidate], cutoff: OffsetDateTime) -> Vec<String> {
    candidates
        .iter()
        .filter(|c| decide(c, cutoff).is_none())
        .map(|c| c.id.clone())
        .collect()
}

/// Of the subjects a queue's subtree holds (`subtree` is
/// `<prefix>.events.<id>.`; a prefix may have dots), the ones an expiry
/// purges: all but [`KEPT_KINDS`] (the kind is the subtree's first token;
/// `dispatched.<worker>` and `task_claimed.<task>` have one more).
pub(crate) fn purged_subjects<'a>(
    subtree: &str,
    subjects: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    subjects
        .into_iter()
        .filter(|subject| {
            let kind = subject
                .strip_prefix(subtree)
                .and_then(|rest| rest.split('.').next());
            // A subject outside the subtree is not this queue's to purge.
            kind.is_some_and(|kind| !KEPT_KINDS.contains(&kind))
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ended(id: &str, status: QueueStatus, at: &str) -> Candidate {
        Candidate {
            id: id.into(),
            status,
            finished_at: Some(at.into()),
            in_running_bisect: false,
        }
    }

    const CUTOFF: OffsetDateTime = datetime!(2026-03-01 00:00 UTC);

    #[test]
    fn an_ended_queue_expires_once_it_ended_before_the_cutoff() {
        for status in [
            QueueStatus::Finished,
            QueueStatus::Error,
            QueueStatus::Cancelled,
        ] {
            let old = ended("old", status, "2026-02-28T23:59:59.5Z");
            assert_eq!(decide(&old, CUTOFF), None, "{status:?}");
        }
        let recent = ended("recent", QueueStatus::Finished, "2026-03-01T00:00:00Z");
        assert_eq!(decide(&recent, CUTOFF), Some(Kept::EndedInsideRetention));
    }

    #[test]
    fn a_waiting_or_running_queue_never_expires() {
        for status in [QueueStatus::Waiting, QueueStatus::Running] {
            let queue = ended("q", status, "2020-01-01T00:00:00Z");
            assert_eq!(decide(&queue, CUTOFF), Some(Kept::NotEnded));
        }
    }

    #[test]
    fn a_step_of_a_running_bisect_is_kept_however_old() {
        let mut step = ended("b-1", QueueStatus::Finished, "2020-01-01T00:00:00Z");
        step.in_running_bisect = true;
        assert_eq!(decide(&step, CUTOFF), Some(Kept::StepOfRunningBisect));
    }

    #[test]
    fn an_unreadable_or_missing_end_time_keeps_the_queue() {
        let mut queue = ended("q", QueueStatus::Finished, "yesterday");
        assert_eq!(decide(&queue, CUTOFF), Some(Kept::NoEndTime));
        queue.finished_at = None;
        assert_eq!(decide(&queue, CUTOFF), Some(Kept::NoEndTime));
    }

    #[test]
    fn to_expire_lists_only_the_expired_in_order() {
        let queues = [
            ended("a", QueueStatus::Finished, "2026-01-01T00:00:00Z"),
            ended("b", QueueStatus::Finished, "2026-03-02T00:00:00Z"),
            ended("c", QueueStatus::Running, "2026-01-01T00:00:00Z"),
            ended("d", QueueStatus::Error, "2026-02-01T10:00:00+02:00"),
        ];
        assert_eq!(to_expire(&queues, CUTOFF), ["a", "d"]);
    }

    #[test]
    fn the_cutoff_is_now_minus_the_retention_and_fractions_work() {
        let retention = Retention::days(90.0).unwrap();
        assert_eq!(
            retention.cutoff(datetime!(2026-03-31 00:00 UTC)),
            datetime!(2025-12-31 00:00 UTC)
        );
        let tiny = Retention::days(0.0001).unwrap();
        assert_eq!(tiny.cutoff(datetime!(2026-03-01 00:00:08.64 UTC)), CUTOFF);
        assert_eq!(Retention::days(0.0), None);
        assert_eq!(Retention::days(-1.0), None);
        assert_eq!(Retention::days(f64::NAN), None);
    }

    #[test]
    fn the_sweep_runs_a_quarter_retention_apart_within_a_second_and_an_hour() {
        assert_eq!(
            Retention::days(90.0).unwrap().sweep_period(),
            Duration::from_secs(3600)
        );
        assert_eq!(
            Retention::days(0.0001).unwrap().sweep_period(),
            Duration::from_secs_f64(2.16)
        );
        assert_eq!(
            Retention::days(0.00001).unwrap().sweep_period(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn an_expiry_purges_every_subject_but_the_kept_kinds() {
        let subjects = [
            "arena.events.q1.submitted",
            "arena.events.q10.started",
            "arena.events.q1.dispatched.w-1",
            "arena.events.q1.started",
            "arena.events.q1.task_claimed.t1",
            "arena.events.q1.task_finished",
            "arena.events.q1.cancel_requested",
            "arena.events.q1.finished",
            "arena.events.q1.deleted",
        ];
        assert_eq!(
            purged_subjects("arena.events.q1.", subjects),
            [
                "arena.events.q1.dispatched.w-1",
                "arena.events.q1.started",
                "arena.events.q1.task_claimed.t1",
                "arena.events.q1.task_finished",
            ]
        );
        let dotted = ["lab.a.events.q1.submitted", "lab.a.events.q1.started"];
        assert_eq!(
            purged_subjects("lab.a.events.q1.", dotted),
            ["lab.a.events.q1.started"]
        );
    }
}
