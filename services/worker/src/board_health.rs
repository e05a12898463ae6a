//! Whether one board can take a queue, as this worker decides it: boots of
//! a board profile that fail on infrastructure count per board, and
//! `quarantine_after` of them in a row quarantine that board alone (the
//! profile and the worker's other boards go on); its `health` command
//! re-admits it. A serial that cannot be opened for [`OFFLINE_AFTER`] while
//! the board is powered makes it `offline` (powered off by the worker, a
//! board whose serial goes with its power is not offline); the serial
//! opening again re-admits it. Each change goes into the worker's record
//! and, as a board event by this worker, onto the event log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use testarena_events::{
    bounded_reason, now_rfc3339, BoardAdmission, BoardEvent, BoardEventBody, BoardName,
    HealthResult,
};

use crate::boot_health::{after_boot, BootOutcome};
use crate::presence::Presence;
use crate::worker_events::WorkerEvents;

/// How long a powered board's serial may fail to open before it is offline.
pub(crate) const OFFLINE_AFTER: Duration = Duration::from_secs(5);

/// What a board's admission is and what this worker knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Standing {
    pub admission: BoardAdmission,
    /// Boots failed in a row.
    pub boots_failed: u32,
    /// As far as this worker knows: its last power command, or on when it
    /// has none.
    pub powered: bool,
}

/// A change of admission and the event that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub admission: BoardAdmission,
    pub reason: Option<String>,
    pub event: BoardEventBody,
}

/// Pure: the serial opened. An offline board is ready again.
pub(crate) fn serial_opened(standing: &Standing) -> Option<Change> {
    (standing.admission == BoardAdmission::Offline).then_some(readmitted())
}

/// Pure: the serial has not opened for `failing_for`; why is `why`. A
/// ready, powered board goes offline once that is [`OFFLINE_AFTER`].
pub(crate) fn serial_failing(
    standing: &Standing,
    failing_for: Duration,
    why: &str,
) -> Option<Change> {
    let offline = standing.admission == BoardAdmission::Ready
        && standing.powered
        && failing_for >= OFFLINE_AFTER;
    offline.then(|| {
        let reason = bounded_reason(&format!("its serial cannot be opened: {why}"));
        Change {
            admission: BoardAdmission::Offline,
            reason: Some(reason.clone()),
            event: BoardEventBody::Offline { reason },
        }
    })
}

/// Pure: a boot on the board ended; the failures in a row after it and the
/// quarantine it decides (exactly when the count reaches `quarantine_after`).
pub(crate) fn boot_ended(
    standing: &Standing,
    outcome: &BootOutcome,
    quarantine_after: u32,
) -> (u32, Option<Change>) {
    let (count, quarantine) = after_boot(standing.boots_failed, outcome, quarantine_after);
    let change = match outcome {
        BootOutcome::Failed(last) if quarantine => {
            let reason =
                bounded_reason(&format!("{count} boots in a row failed; the last: {last}"));
            Some(Change {
                admission: BoardAdmission::Quarantined,
                reason: Some(reason.clone()),
                event: BoardEventBody::Quarantined { reason },
            })
        }
        _ => None,
    };
    (count, change)
}

/// Pure: its health command passed; a quarantined board is ready again.
pub(crate) fn health_passed(standing: &Standing) -> Option<Change> {
    (standing.admission == BoardAdmission::Quarantined).then_some(readmitted())
}

fn readmitted() -> Change {
    Change {
        admission: BoardAdmission::Ready,
        reason: None,
        event: BoardEventBody::Readmitted {},
    }
}

/// One board's standing, kept in the worker's record.
pub(crate) struct BoardStatus {
    name: BoardName,
    presence: Presence,
    events: WorkerEvents,
    state: Mutex<(Standing, Option<Instant>)>,
}

impl BoardStatus {
    pub(crate) fn new(
        name: BoardName,
        powered: bool,
        presence: Presence,
        events: WorkerEvents,
    ) -> Self {
        let standing = Standing {
            admission: BoardAdmission::Ready,
            boots_failed: 0,
            powered,
        };
        Self {
            name,
            presence,
            events,
            state: Mutex::new((standing, None)),
        }
    }

    pub(crate) fn name(&self) -> &BoardName {
        &self.name
    }

    fn decide(
        &self,
        decide: impl FnOnce(&mut Standing, &mut Option<Instant>) -> Option<Change>,
    ) -> Option<Change> {
        let change = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let (standing, failing_since) = &mut *state;
            let change = decide(standing, failing_since);
            if let Some(change) = &change {
                standing.admission = change.admission;
                if change.admission != BoardAdmission::Quarantined {
                    standing.boots_failed = 0;
                }
            }
            change
        };
        if let Some(change) = &change {
            tracing::info!(board = %self.name, admission = ?change.admission, reason = ?change.reason, "board admission changed");
            self.presence
                .set_board(&self.name, change.admission, change.reason.clone());
            let id = self.presence.id();
            let event = BoardEvent::new(id.clone(), self.name.clone(), id, change.event.clone());
            self.events.send_board(event);
        }
        change
    }

    pub(crate) fn serial_opened(&self) {
        self.decide(|standing, failing_since| {
            *failing_since = None;
            serial_opened(standing)
        });
    }

    pub(crate) fn serial_failed(&self, why: String) {
        self.decide(|standing, failing_since| {
            let since = *failing_since.get_or_insert_with(Instant::now);
            serial_failing(standing, since.elapsed(), &why)
        });
    }

    pub(crate) fn set_powered(&self, powered: bool) {
        self.decide(|standing, failing_since| {
            standing.powered = powered;
            // Failing while off says nothing about it being on.
            *failing_since = None;
            None
        });
    }

    /// Counts one boot; the quarantine's reason when it decided one.
    pub(crate) fn boot_ended(
        &self,
        outcome: &BootOutcome,
        quarantine_after: u32,
    ) -> Option<String> {
        self.decide(|standing, _| {
            let (count, change) = boot_ended(standing, outcome, quarantine_after);
            standing.boots_failed = count;
            change
        })
        .and_then(|c| c.reason)
    }

    pub(crate) fn is_quarantined(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0.admission == BoardAdmission::Quarantined
    }

    /// Its health command ran: the result goes in the record; a pass
    /// re-admits it.
    pub(crate) fn health_ran(&self, result: Result<(), String>) {
        let ok = result.is_ok();
        let message = result.err().unwrap_or_else(|| "exit 0".into());
        self.presence.set_board_health(
            &self.name,
            HealthResult {
                at: now_rfc3339(),
                ok,
                message: bounded_reason(&message),
            },
        );
        if ok {
            self.decide(|standing, _| health_passed(standing));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(admission: BoardAdmission, powered: bool) -> Standing {
        Standing {
            admission,
            boots_failed: 0,
            powered,
        }
    }

    #[test]
    fn a_powered_board_whose_serial_stays_shut_goes_offline_and_comes_back_when_it_opens() {
        let ready = standing(BoardAdmission::Ready, true);
        assert_eq!(
            serial_failing(&ready, Duration::from_secs(1), "refused"),
            None
        );
        let change = serial_failing(&ready, OFFLINE_AFTER, "refused").unwrap();
        assert_eq!(change.admission, BoardAdmission::Offline);
        assert!(
            matches!(change.event, BoardEventBody::Offline { ref reason } if reason.contains("refused"))
        );
        let off = standing(BoardAdmission::Ready, false);
        assert_eq!(serial_failing(&off, OFFLINE_AFTER * 10, "refused"), None);
        let offline = standing(BoardAdmission::Offline, true);
        assert_eq!(
            serial_opened(&offline).unwrap().event,
            BoardEventBody::Readmitted {}
        );
        assert_eq!(serial_opened(&ready), None);
        let quarantined = standing(BoardAdmission::Quarantined, true);
        assert_eq!(serial_opened(&quarantined), None);
        assert_eq!(serial_failing(&quarantined, OFFLINE_AFTER, "x"), None);
    }

    #[test]
    fn the_third_failed_boot_in_a_row_quarantines_the_board_and_health_readmits_it() {
        let mut board = standing(BoardAdmission::Ready, true);
        let failed = BootOutcome::Failed("boot not ready within 3s".into());
        for expected in 1..=2 {
            let (count, change) = boot_ended(&board, &failed, 3);
            assert_eq!((count, change), (expected, None));
            board.boots_failed = count;
        }
        let (count, change) = boot_ended(&board, &failed, 3);
        let change = change.unwrap();
        assert_eq!((count, change.admission), (3, BoardAdmission::Quarantined));
        assert!(change
            .reason
            .unwrap()
            .starts_with("3 boots in a row failed; the last: boot not ready"));
        board.admission = BoardAdmission::Quarantined;
        assert_eq!(
            health_passed(&board).unwrap().admission,
            BoardAdmission::Ready
        );
        assert_eq!(health_passed(&standing(BoardAdmission::Ready, true)), None);
        let (count, change) = boot_ended(
            &standing(BoardAdmission::Ready, true),
            &BootOutcome::Ready,
            3,
        );
        assert_eq!((count, change), (0, None));
    }
}
