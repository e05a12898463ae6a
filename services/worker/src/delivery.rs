//! Pure decisions about one delivery of a `dispatched` message: whether to
//! run it at all (a run of it here that goes on, the attempt budget, the
//! queue's history), and how to settle it once the run ended (`finished` +
//! ack, a nak, or nothing). queue_run.rs does what these say.

use std::time::Duration;

use testarena_events::FinalStatus;

use crate::pipeline::RunEnd;
use crate::publish::PublishError;
use crate::stop_signal::{HeldRun, StopReason};

/// Whether a delivery runs the queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Run,
    /// This worker's run of this very dispatch goes on: JetStream delivered
    /// it again (its consumer's leader moved, with delivered and ack state
    /// older than the run's in-progress acks). Keep that run, tell
    /// JetStream the message is in progress; the run settles it, since an
    /// ack names the stream sequence whichever delivery it came with.
    KeepRunning,
    /// The attempts are spent: end the queue in `Error` with this reason.
    GiveUp(String),
}

/// A dispatch delivered again while this worker's run of it is alive (not
/// stopped, heartbeating within `ack_wait`) is that run's; otherwise the
/// delivery is a new attempt. The consumer delivers a queue once more than
/// its attempts: the last delivery only records that every attempt ended
/// without settling it.
pub(crate) fn decide_delivery(
    attempt: u32,
    max_attempts: u32,
    held: Option<HeldRun>,
    ack_wait: Duration,
) -> Delivery {
    if held.is_some_and(|run| !run.stopped && run.silent <= ack_wait) {
        Delivery::KeepRunning
    } else if attempt > max_attempts {
        Delivery::GiveUp(format!(
            "gave up after {max_attempts} attempts: none of them settled the queue \
             (each time its worker stopped responding, was shut down or lost NATS)"
        ))
    } else {
        Delivery::Run
    }
}

/// What the events stream already says about a queue about to run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum History {
    Fresh,
    /// An earlier attempt finished it but died before its ack: only settle.
    Finished,
    /// Cancelled or deleted before this attempt: run nothing, settle as that.
    Stopped(StopReason),
}

/// From which of `finished`, `cancel_requested` and `deleted` the queue's
/// subject holds; a finished queue stays finished, a delete outranks a cancel.
pub(crate) fn read_history(finished: bool, cancelled: bool, deleted: bool) -> History {
    if finished {
        History::Finished
    } else if deleted {
        History::Stopped(StopReason::Deleted)
    } else if cancelled {
        History::Stopped(StopReason::Cancelled("cancelled by a user".into()))
    } else {
        History::Fresh
    }
}

/// The run's first log line; a later attempt says why there is one.
pub(crate) fn attempt_line(attempt: u32, worker: &str) -> String {
    if attempt > 1 {
        format!(
            "attempt {attempt} on {worker} (attempt {} ended without settling the queue: \
             its worker stopped responding, was shut down or lost NATS)",
            attempt - 1
        )
    } else {
        format!("attempt {attempt} on {worker}")
    }
}

/// How a run is settled with JetStream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Store `finished`, purge late log lines of a deleted queue, then ack.
    Finish {
        status: FinalStatus,
        reason: Option<String>,
        purge_logs: bool,
    },
    /// Nak: hand the queue back so another attempt runs it now (a worker
    /// shutting down, whether or not its log was stored whole).
    HandBack,
    /// Neither ack nor nak: not everything this run published was stored,
    /// so it must not say it finished; JetStream redelivers the queue after
    /// `ack_wait`. The string says why, for the worker's log.
    Abandon(String),
    /// Another shard of a sharded queue ended it: say this shard stopped,
    /// then ack.
    Leave,
    /// Another attempt took the queue over (supersession.rs): neither
    /// `finished` nor ack nor nak; the queue is its successor's.
    Superseded,
}

/// How the run ended, why it was stopped (if it was) and whether its log
/// was stored whole → how to settle the message.
pub(crate) fn settle_run(
    end: &RunEnd,
    stop: Option<&StopReason>,
    log: &Result<u64, PublishError>,
) -> Settle {
    if let Some(StopReason::Superseded(_)) = stop {
        return Settle::Superseded;
    }
    if let Err(error) = log {
        return match stop {
            Some(StopReason::Shutdown) => Settle::HandBack,
            _ => Settle::Abandon(format!("its log lines could not be stored: {error}")),
        };
    }
    let (status, reason) = match (end, stop) {
        (RunEnd::Stopped, Some(StopReason::Shutdown)) => return Settle::HandBack,
        (RunEnd::Stopped, Some(StopReason::NatsUnreachable(why))) => {
            return Settle::Abandon(why.clone())
        }
        (RunEnd::Stopped, Some(StopReason::QueueEnded)) => return Settle::Leave,
        (RunEnd::Stopped, Some(StopReason::Cancelled(why))) => {
            (FinalStatus::Cancelled, Some(why.clone()))
        }
        (RunEnd::Stopped, Some(StopReason::Deleted)) => {
            (FinalStatus::Cancelled, Some("queue deleted".to_owned()))
        }
        _ => end.final_status(),
    };
    Settle::Finish {
        status,
        reason,
        // Lines published after the gateway's purge must go too.
        purge_logs: stop == Some(&StopReason::Deleted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORED: Result<u64, PublishError> = Ok(10);

    fn finish(status: FinalStatus, reason: Option<&str>) -> Settle {
        Settle::Finish {
            status,
            reason: reason.map(str::to_owned),
            purge_logs: false,
        }
    }

    const ACK_WAIT: Duration = Duration::from_secs(30);

    fn held(stopped: bool, silent_s: u64) -> Option<HeldRun> {
        Some(HeldRun {
            stopped,
            silent: Duration::from_secs(silent_s),
        })
    }

    #[test]
    fn a_delivery_runs_until_the_attempts_are_spent() {
        assert_eq!(decide_delivery(1, 3, None, ACK_WAIT), Delivery::Run);
        assert_eq!(decide_delivery(3, 3, None, ACK_WAIT), Delivery::Run);
        let Delivery::GiveUp(reason) = decide_delivery(4, 3, None, ACK_WAIT) else {
            panic!("the fourth delivery of three attempts gives up")
        };
        assert!(reason.starts_with("gave up after 3 attempts: "), "{reason}");
    }

    #[test]
    fn a_dispatch_delivered_again_to_its_live_run_here_keeps_that_run() {
        assert_eq!(
            decide_delivery(2, 3, held(false, 3), ACK_WAIT),
            Delivery::KeepRunning
        );
        // Even past the attempts: the live run settles the queue.
        assert_eq!(
            decide_delivery(4, 3, held(false, 30), ACK_WAIT),
            Delivery::KeepRunning
        );
    }

    #[test]
    fn a_dispatch_whose_run_here_ended_stopped_or_went_silent_runs_again() {
        // No run of this dispatch here: another dispatch, or this worker
        // restarted, or the run ended.
        assert_eq!(decide_delivery(2, 3, None, ACK_WAIT), Delivery::Run);
        // Stopping (superseded, shut down, NATS unreachable): it settles
        // nothing, so the delivery is decided as before.
        assert_eq!(
            decide_delivery(2, 3, held(true, 1), ACK_WAIT),
            Delivery::Run
        );
        // No in-progress ack for longer than ack_wait (its process paused).
        assert_eq!(
            decide_delivery(2, 3, held(false, 31), ACK_WAIT),
            Delivery::Run
        );
        assert!(matches!(
            decide_delivery(4, 3, held(true, 1), ACK_WAIT),
            Delivery::GiveUp(_)
        ));
    }

    #[test]
    fn history_finished_outranks_deleted_which_outranks_cancelled() {
        assert_eq!(read_history(false, false, false), History::Fresh);
        assert_eq!(read_history(true, true, true), History::Finished);
        assert_eq!(
            read_history(false, true, true),
            History::Stopped(StopReason::Deleted)
        );
        assert_eq!(
            read_history(false, true, false),
            History::Stopped(StopReason::Cancelled("cancelled by a user".into()))
        );
    }

    #[test]
    fn a_later_attempt_says_why_it_exists() {
        assert_eq!(attempt_line(1, "w"), "attempt 1 on w");
        assert!(attempt_line(2, "w").starts_with("attempt 2 on w (attempt 1 ended without"));
    }

    #[test]
    fn a_run_that_ended_by_itself_finishes_with_its_status() {
        assert_eq!(
            settle_run(&RunEnd::Completed, None, &STORED),
            finish(FinalStatus::Finished, None)
        );
        assert_eq!(
            settle_run(&RunEnd::Failed("build failed".into()), None, &STORED),
            finish(FinalStatus::Error, Some("build failed"))
        );
        // A shutdown that came after the run ended changes nothing.
        assert_eq!(
            settle_run(&RunEnd::Completed, Some(&StopReason::Shutdown), &STORED),
            finish(FinalStatus::Finished, None)
        );
    }

    #[test]
    fn a_stopped_run_settles_as_its_stop_reason_says() {
        let stopped = |reason: StopReason| settle_run(&RunEnd::Stopped, Some(&reason), &STORED);
        assert_eq!(stopped(StopReason::Shutdown), Settle::HandBack);
        assert_eq!(
            stopped(StopReason::Cancelled("by me".into())),
            finish(FinalStatus::Cancelled, Some("by me"))
        );
        assert_eq!(
            stopped(StopReason::Deleted),
            Settle::Finish {
                status: FinalStatus::Cancelled,
                reason: Some("queue deleted".into()),
                purge_logs: true,
            }
        );
        assert_eq!(
            stopped(StopReason::NatsUnreachable("down".into())),
            Settle::Abandon("down".into())
        );
    }

    #[test]
    fn a_superseded_run_settles_nothing_whatever_it_got_to() {
        let superseded = StopReason::Superseded("attempt 1 was superseded".into());
        let lost = Err(PublishError::Superseded("attempt 1 was superseded".into()));
        for (end, log) in [
            (RunEnd::Completed, &STORED),
            (RunEnd::Stopped, &STORED),
            (RunEnd::Stopped, &lost),
        ] {
            assert_eq!(
                settle_run(&end, Some(&superseded), log),
                Settle::Superseded,
                "{end:?}"
            );
        }
    }

    #[test]
    fn a_run_whose_log_has_a_hole_never_finishes() {
        let lost = Err(PublishError::RunLost("NATS unreachable".into()));
        for (end, stop) in [
            (RunEnd::Completed, None),
            (RunEnd::Stopped, Some(StopReason::Cancelled("x".into()))),
        ] {
            let settle = settle_run(&end, stop.as_ref(), &lost);
            assert!(matches!(settle, Settle::Abandon(_)), "{end:?}: {settle:?}");
        }
        // Shutting down, it is handed back as it would be anyway.
        assert_eq!(
            settle_run(&RunEnd::Completed, Some(&StopReason::Shutdown), &lost),
            Settle::HandBack
        );
    }
}
