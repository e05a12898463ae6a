//! Pure: whether a message of the consumer's subjects concerns the
//! notifier, read from its subject and body alone (most `stage_finished`
//! are not a checkout and are acknowledged without reading a view).

use testarena_events::{
    ArenaNames, BisectEvent, BisectEventBody, Event, EventBody, Stage, StageOutcome,
};

use crate::facts::QueueMoment;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interest {
    Queue { id: String, moment: QueueMoment },
    BisectEnded { id: String },
}

/// `None`: nothing to do (or a message this version cannot read, which is
/// logged by the caller and acknowledged rather than retried for a day).
pub fn interest(names: &ArenaNames, subject: &str, payload: &[u8]) -> Option<Interest> {
    if names.is_bisect_event_subject(subject) {
        let event = BisectEvent::from_json(payload).ok()?;
        return matches!(event.body, BisectEventBody::Ended { .. }).then(|| {
            Interest::BisectEnded {
                id: event.bisect_id.to_string(),
            }
        });
    }
    let event = Event::from_json(payload).ok()?;
    let moment = match event.body {
        EventBody::Submitted { .. } => QueueMoment::Submitted,
        EventBody::StageFinished {
            stage: Stage::Checkout,
            outcome: StageOutcome::Ok,
            commit: Some(_),
            ..
        } => QueueMoment::CheckedOut,
        EventBody::Finished { .. } => QueueMoment::Finished,
        _ => return None,
    };
    Some(Interest::Queue {
        id: event.queue_id.to_string(),
        moment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> ArenaNames {
        ArenaNames::default()
    }

    #[test]
    fn a_checkout_with_its_commit_is_of_interest_other_stages_are_not() {
        let checkout =
            br#"{"v":1,"queue_id":"q1","at":"2026-01-01T00:00:00Z","type":"stage_finished",
            "stage":"checkout","attempt":1,"outcome":"ok","duration_ms":5,"commit":"abc"}"#;
        assert_eq!(
            interest(&names(), "arena.events.q1.stage_finished", checkout),
            Some(Interest::Queue {
                id: "q1".into(),
                moment: QueueMoment::CheckedOut
            })
        );
        let build = br#"{"v":1,"queue_id":"q1","at":"2026-01-01T00:00:00Z","type":"stage_finished",
            "stage":"build","attempt":1,"outcome":"ok","duration_ms":5}"#;
        assert_eq!(
            interest(&names(), "arena.events.q1.stage_finished", build),
            None
        );
    }

    #[test]
    fn a_finished_queue_and_an_ended_bisect_are_of_interest() {
        let finished = br#"{"v":1,"queue_id":"q1","at":"2026-01-01T00:00:00Z","type":"finished","status":"Finished"}"#;
        assert_eq!(
            interest(&names(), "arena.events.q1.finished", finished),
            Some(Interest::Queue {
                id: "q1".into(),
                moment: QueueMoment::Finished
            })
        );
        let ended = br#"{"v":1,"bisect_id":"b1","at":"2026-01-01T00:00:00Z","type":"ended","status":"Found","first_bad":"abc"}"#;
        assert_eq!(
            interest(&names(), "arena.bisect.b1.ended", ended),
            Some(Interest::BisectEnded { id: "b1".into() })
        );
    }

    #[test]
    fn hostile_or_unknown_payloads_are_of_no_interest() {
        for payload in [
            &b""[..],
            b"{",
            b"null",
            br#"{"v":99,"queue_id":"q1","type":"finished"}"#,
        ] {
            assert_eq!(
                interest(&names(), "arena.events.q1.finished", payload),
                None
            );
            assert_eq!(interest(&names(), "arena.bisect.b1.ended", payload), None);
        }
    }
}
