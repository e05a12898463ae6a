//! Stores one run's messages — its events and its log batches — in
//! JetStream. A publish is retried with backoff until JetStream acknowledges
//! it, but not forever: for at most the run's `retry_for` (the consumer's
//! `ack_wait`), and not at all once the run is handed back on shutdown.
//!
//! Why `ack_wait`: the heartbeat fails during the same outage, and once it
//! has been silent for `ack_wait` JetStream redelivers the queue. A run that
//! could not store a message for that long no longer holds its queue; it
//! stops and leaves the queue to the next attempt instead of waiting on NATS.
//! Once one publish of a run gives up, every later one fails at once, so the
//! run ends without waiting out the bound again for each event.
//!
//! Each message carries an id unique to its run and position, so a retry
//! after a lost acknowledgement (a broker failover) is stored once.
//!
//! A run that another attempt superseded (a paused worker that woke up)
//! publishes nothing more: each publish asks supersession.rs first.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use tokio_util::sync::CancellationToken;

use crate::stop_signal::{StopReason, StopSignal};
use crate::supersession::Supersession;

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Why a run's message could not be stored; says enough for the worker's
/// log and the reason a run is abandoned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PublishError {
    #[error("NATS unreachable: could not store it for {}s: {last_error}", .waited.as_secs())]
    Unreachable {
        waited: Duration,
        last_error: String,
    },
    #[error("the worker is shutting down and NATS did not take it: {last_error}")]
    ShuttingDown { last_error: String },
    /// An earlier publish of the run gave up, for the reason given.
    #[error("the run is abandoned: an earlier message could not be stored ({0})")]
    RunLost(String),
    /// Stored after a message the run published later (emitter.rs).
    #[error("stored out of order after a retry: at sequence {sequence}, after {after}")]
    OutOfOrder { sequence: u64, after: u64 },
    /// Another attempt holds the queue now (supersession.rs): the line says who.
    #[error("{0}")]
    Superseded(String),
}

/// What to do after a failed try.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    RetryAfter(Duration),
    GiveUp(PublishError),
}

/// The retry decision: retry with doubling backoff while the bound has not
/// passed and the run is not being handed back.
fn after_failure(
    failing_for: Duration,
    retry_for: Duration,
    backoff: Duration,
    stop: Option<&StopReason>,
    last_error: String,
) -> Next {
    if stop == Some(&StopReason::Shutdown) {
        // The queue goes back to JetStream anyway; its next attempt writes
        // the events and lines this one could not.
        Next::GiveUp(PublishError::ShuttingDown { last_error })
    } else if failing_for >= retry_for {
        Next::GiveUp(PublishError::Unreachable {
            waited: failing_for,
            last_error,
        })
    } else {
        Next::RetryAfter(backoff.min(retry_for - failing_for))
    }
}

fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(MAX_BACKOFF)
}

/// A message written to the connection whose acknowledgement is not awaited
/// yet (see [`Publisher::stored`]).
pub(crate) struct Sent {
    subject: String,
    message_id: String,
    payload: bytes::Bytes,
    ack: Result<PublishAckFuture, String>,
}

/// One run's way into JetStream, shared by its emitter and log batcher.
#[derive(Clone)]
pub(crate) struct Publisher {
    js: jetstream::Context,
    retry_for: Duration,
    stop: StopSignal,
    /// Cancelled once a publish of this run gave up, with why.
    lost: CancellationToken,
    lost_because: Arc<OnceLock<String>>,
    /// Asked before each publish whether the run still holds its queue.
    supersession: Option<Supersession>,
}

impl Publisher {
    pub(crate) fn new(js: jetstream::Context, retry_for: Duration, stop: StopSignal) -> Self {
        Self {
            js,
            retry_for,
            stop,
            lost: CancellationToken::new(),
            lost_because: Arc::default(),
            supersession: None,
        }
    }

    /// Publishes only while `supersession` finds the run holds its queue.
    pub(crate) fn watched_by(mut self, supersession: Supersession) -> Self {
        self.supersession = Some(supersession);
        self
    }

    async fn still_holds_the_queue(&self) -> Result<(), PublishError> {
        match &self.supersession {
            Some(supersession) => supersession.before_publish().await,
            None => Ok(()),
        }
    }

    fn run_lost(&self) -> PublishError {
        let why = self.lost_because.get().map_or("", String::as_str);
        PublishError::RunLost(why.to_owned())
    }

    /// Stores `payload` on `subject`; returns its stream sequence.
    pub(crate) async fn publish(
        &self,
        subject: &str,
        message_id: &str,
        payload: bytes::Bytes,
    ) -> Result<u64, PublishError> {
        self.still_holds_the_queue().await?;
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            if self.lost.is_cancelled() {
                return Err(self.run_lost());
            }
            // A try in flight ends when another publish of the run gives up.
            let attempt = tokio::select! {
                result = self.try_once(subject, message_id, payload.clone()) => result,
                _ = self.lost.cancelled() => return Err(self.run_lost()),
            };
            let last_error = match attempt {
                Ok(sequence) => return Ok(sequence),
                Err(e) => e,
            };
            tracing::warn!(error = %last_error, subject, "publishing failed; retrying");
            let stop = self.stop.reason();
            match after_failure(
                started.elapsed(),
                self.retry_for,
                backoff,
                stop.as_ref(),
                last_error,
            ) {
                Next::RetryAfter(wait) => {
                    // Not the stop token: a cancelled queue's token stays
                    // cancelled, and its `finished` must still be stored. A
                    // shutdown is seen after this wait (at most 2 s).
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.lost.cancelled() => {}
                    }
                    backoff = next_backoff(backoff);
                }
                Next::GiveUp(error) => {
                    let _ = self.lost_because.set(error.to_string());
                    self.lost.cancel();
                    return Err(error);
                }
            }
        }
    }

    /// Writes `payload` to `subject` and returns without waiting for
    /// JetStream to store it; fails at once only when the run is lost.
    pub(crate) async fn send(
        &self,
        subject: &str,
        message_id: &str,
        payload: bytes::Bytes,
    ) -> Result<Sent, PublishError> {
        if self.lost.is_cancelled() {
            return Err(self.run_lost());
        }
        self.still_holds_the_queue().await?;
        let publish = PublishMessage::build()
            .payload(payload.clone())
            .message_id(message_id);
        let ack = self
            .js
            .send_publish(subject.to_owned(), publish)
            .await
            .map_err(|e| e.to_string());
        Ok(Sent {
            subject: subject.to_owned(),
            message_id: message_id.to_owned(),
            payload,
            ack,
        })
    }

    /// Waits until a sent message is stored and returns its stream
    /// sequence: its acknowledgement, or else — once `before_retry` is
    /// done — the message published again as [`publish`](Self::publish)
    /// does (its id makes a second copy a no-op).
    pub(crate) async fn stored(
        &self,
        sent: Sent,
        before_retry: impl std::future::Future<Output = ()>,
    ) -> Result<u64, PublishError> {
        let first = match sent.ack {
            Ok(ack) => tokio::select! {
                ack = ack => ack.map(|ack| ack.sequence).map_err(|e| e.to_string()),
                _ = self.lost.cancelled() => return Err(self.run_lost()),
            },
            Err(e) => Err(e),
        };
        match first {
            Ok(sequence) => Ok(sequence),
            Err(error) => {
                tracing::warn!(%error, subject = sent.subject, "a sent message was not stored; publishing it again");
                before_retry.await;
                self.publish(&sent.subject, &sent.message_id, sent.payload)
                    .await
            }
        }
    }

    /// Stops the run this publisher serves (a message of it is lost).
    pub(crate) fn stop_run(&self, reason: StopReason) {
        self.stop.stop(reason);
    }

    async fn try_once(
        &self,
        subject: &str,
        message_id: &str,
        payload: bytes::Bytes,
    ) -> Result<u64, String> {
        let publish = PublishMessage::build()
            .payload(payload)
            .message_id(message_id);
        match self.js.send_publish(subject.to_owned(), publish).await {
            Ok(ack) => ack.await.map(|ack| ack.sequence).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_failure_within_the_bound_is_retried_no_later_than_the_bound() {
        let bound = S(30);
        assert_eq!(
            after_failure(S(1), bound, S(2), None, "x".into()),
            Next::RetryAfter(S(2))
        );
        assert_eq!(
            after_failure(Duration::from_millis(29_500), bound, S(2), None, "x".into()),
            Next::RetryAfter(Duration::from_millis(500))
        );
        // A user's cancel still needs its `finished` stored: keep trying.
        let cancelled = StopReason::Cancelled("by a user".into());
        assert!(matches!(
            after_failure(S(1), bound, S(2), Some(&cancelled), "x".into()),
            Next::RetryAfter(_)
        ));
    }

    #[test]
    fn past_the_bound_the_publish_gives_up_saying_how_long_it_tried() {
        let next = after_failure(S(30), S(30), S(2), None, "no responders".into());
        let Next::GiveUp(error) = next else {
            panic!("{next:?}")
        };
        assert_eq!(
            error.to_string(),
            "NATS unreachable: could not store it for 30s: no responders"
        );
    }

    #[test]
    fn a_run_handed_back_on_shutdown_does_not_retry() {
        let next = after_failure(S(0), S(30), S(2), Some(&StopReason::Shutdown), "x".into());
        assert!(
            matches!(next, Next::GiveUp(PublishError::ShuttingDown { .. })),
            "{next:?}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_two_seconds() {
        let mut backoff = FIRST_BACKOFF;
        let mut seen = vec![];
        for _ in 0..8 {
            seen.push(backoff.as_millis());
            backoff = next_backoff(backoff);
        }
        assert_eq!(seen, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
    }
}
