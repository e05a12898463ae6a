//! Pure: what an attempt's answer means for its delivery, the record it
//! leaves, and when the event's message comes back. A 2xx is delivered; a
//! 408, 429, 5xx or no answer is retried with a doubling delay (2 s up to
//! an hour) until the event is 24 hours old; any other 4xx is refused for
//! good (a wrong token or URL does not heal by retrying).

use std::time::Duration;

use testarena_events::{DeliveryRecord, DeliveryState};

use crate::decide::Delivery;

/// How long after its event a delivery is still retried.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
const FIRST_RETRY: Duration = Duration::from_secs(2);
const LONGEST_RETRY: Duration = Duration::from_secs(3600);

/// What one HTTP attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// No answer: a connection refused, a timeout, a TLS failure.
    NoAnswer(String),
}

pub fn state_after(answer: &Answer, last_chance: bool) -> DeliveryState {
    let retryable = match answer {
        Answer::Status(code) if (200..300).contains(code) => return DeliveryState::Delivered,
        Answer::Status(code) => matches!(code, 408 | 429) || *code >= 500,
        Answer::NoAnswer(_) => true,
    };
    if retryable && !last_chance {
        DeliveryState::Pending
    } else {
        DeliveryState::Failed
    }
}

/// The record after an attempt, on top of the one before it (if any).
pub fn record_after(
    previous: Option<&DeliveryRecord>,
    delivery: &Delivery,
    answer: &Answer,
    last_chance: bool,
    now: &str,
) -> DeliveryRecord {
    let state = state_after(answer, last_chance);
    let (last_status, last_error) = match answer {
        Answer::Status(code) if state == DeliveryState::Delivered => (Some(*code), None),
        Answer::Status(code) => (Some(*code), Some(format!("answered HTTP {code}"))),
        Answer::NoAnswer(error) => (None, Some(error.clone())),
    };
    DeliveryRecord {
        attempts: previous.map_or(0, |p| p.attempts) + 1,
        last_status,
        last_error,
        first_at: previous.map_or_else(|| now.to_owned(), |p| p.first_at.clone()),
        ..unsent(delivery, state, now)
    }
}

/// A delivery left unsent because a later state was delivered first.
pub fn superseded(delivery: &Delivery, now: &str) -> DeliveryRecord {
    unsent(delivery, DeliveryState::Superseded, now)
}

/// A record of `delivery` in `state` with no attempt counted, dated `now`:
/// a superseded one, or the base an attempt's record is built on.
fn unsent(delivery: &Delivery, state: DeliveryState, now: &str) -> DeliveryRecord {
    DeliveryRecord {
        id: delivery.id.clone(),
        kind: delivery.kind,
        target: delivery.target.clone(),
        about: delivery.about.clone(),
        queue_id: delivery.queue_id.clone(),
        bisect_id: delivery.bisect_id.clone(),
        state,
        attempts: 0,
        last_status: None,
        last_error: None,
        first_at: now.to_owned(),
        last_at: now.to_owned(),
    }
}

/// What becomes of the event's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Every delivery is settled: the message is acknowledged.
    Ack,
    /// Some are pending: the message comes back after this delay.
    RetryAfter(Duration),
}

/// `delivered` is the message's delivery count, from 1.
pub fn settle(any_pending: bool, delivered: i64) -> Settle {
    if !any_pending {
        return Settle::Ack;
    }
    let doublings = u32::try_from(delivered.clamp(1, 20) - 1).unwrap_or(0);
    Settle::RetryAfter((FIRST_RETRY * 2u32.pow(doublings)).min(LONGEST_RETRY))
}

/// Whether this attempt is the last: the event is past the retry window.
pub fn is_last_chance(event_age: Duration) -> bool {
    event_age >= GIVE_UP_AFTER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decide_delivered_retried_or_refused() {
        use DeliveryState::*;
        assert_eq!(state_after(&Answer::Status(201), false), Delivered);
        assert_eq!(state_after(&Answer::Status(204), true), Delivered);
        for retried in [408, 429, 500, 502, 503] {
            assert_eq!(
                state_after(&Answer::Status(retried), false),
                Pending,
                "{retried}"
            );
            assert_eq!(
                state_after(&Answer::Status(retried), true),
                Failed,
                "{retried}"
            );
        }
        for refused in [400, 401, 403, 404, 422] {
            assert_eq!(
                state_after(&Answer::Status(refused), false),
                Failed,
                "{refused}"
            );
        }
        assert_eq!(
            state_after(&Answer::NoAnswer("refused".into()), false),
            Pending
        );
        assert_eq!(state_after(&Answer::Status(302), false), Failed);
    }

    #[test]
    fn retries_double_from_two_seconds_up_to_an_hour() {
        assert_eq!(settle(false, 7), Settle::Ack);
        let delays: Vec<_> = [1, 2, 3, 4, 12, 13, 1000]
            .map(|n| match settle(true, n) {
                Settle::RetryAfter(d) => d.as_secs(),
                Settle::Ack => 0,
            })
            .into();
        assert_eq!(delays, [2, 4, 8, 16, 3600, 3600, 3600]);
    }

    #[test]
    fn the_retry_window_is_a_day() {
        assert!(!is_last_chance(Duration::from_secs(24 * 3600 - 1)));
        assert!(is_last_chance(GIVE_UP_AFTER));
    }
}
