//! Boot health per worker × profile: boots that fail on infrastructure (the
//! boot process exits before it is ready, is not ready in time, cannot
//! start) count; `quarantine_after` of them in a row quarantine the profile
//! on this worker, so the dispatcher gives its queues to others. A test
//! failure never counts: only the boot stage reports here. A passing
//! health command (health_check.rs) or an operator's readmit takes the
//! profile back. What the worker decides itself (a quarantine, a health
//! readmit) is recorded as a worker event by this worker.

use std::collections::HashMap;
use std::sync::Mutex;

use testarena_events::{bounded_reason, ProfileName, WorkerEvent, WorkerEventBody};

use crate::presence::Presence;
use crate::profile::Profile;
use crate::worker_events::WorkerEvents;

/// How one boot stage ended, as health sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BootOutcome {
    Ready,
    /// Every try failed; the last reason.
    Failed(String),
    /// Cancelled or stopped: says nothing about the target.
    Stopped,
}

/// Pure: the failures in a row after this boot, and whether the profile is
/// quarantined now (exactly when the count reaches `quarantine_after`).
pub(crate) fn after_boot(
    in_a_row: u32,
    outcome: &BootOutcome,
    quarantine_after: u32,
) -> (u32, bool) {
    match outcome {
        BootOutcome::Ready => (0, false),
        BootOutcome::Stopped => (in_a_row, false),
        BootOutcome::Failed(_) => {
            let now = in_a_row + 1;
            (now, now == quarantine_after)
        }
    }
}

pub(crate) struct BootHealth {
    in_a_row: Mutex<HashMap<ProfileName, u32>>,
    presence: Presence,
    events: WorkerEvents,
}

impl BootHealth {
    pub fn new(presence: Presence, events: WorkerEvents) -> Self {
        Self {
            in_a_row: Mutex::new(HashMap::new()),
            presence,
            events,
        }
    }

    /// Counts one boot; the reason when it quarantined the profile.
    pub fn record(&self, profile: &Profile, outcome: &BootOutcome) -> Option<String> {
        let mut counts = self.in_a_row.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(profile.name.clone()).or_default();
        let (now, quarantine) = after_boot(*count, outcome, profile.health.quarantine_after);
        *count = now;
        let BootOutcome::Failed(last) = outcome else {
            return None;
        };
        if !quarantine {
            return None;
        }
        let reason = format!("{now} boots in a row failed; the last: {last}");
        self.presence.quarantine(&profile.name, reason.clone());
        self.record_own(WorkerEventBody::Quarantined {
            profile: profile.name.to_string(),
            reason: bounded_reason(&reason),
        });
        Some(reason)
    }

    /// The profile is taken back: its count starts over.
    pub fn readmitted(&self, profile: &ProfileName) {
        let mut counts = self.in_a_row.lock().unwrap_or_else(|e| e.into_inner());
        counts.remove(profile);
        self.presence.readmit(profile);
    }

    /// Its health command passed: taken back, and recorded as this
    /// worker's own readmit.
    pub fn passed_health(&self, profile: &ProfileName) {
        self.readmitted(profile);
        self.record_own(WorkerEventBody::Readmitted {
            profile: profile.to_string(),
        });
    }

    fn record_own(&self, body: WorkerEventBody) {
        let id = self.presence.id();
        self.events.send(WorkerEvent::new(id.clone(), id, body));
    }

    pub fn is_quarantined(&self, profile: &ProfileName) -> bool {
        self.presence.is_quarantined(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_third_failure_in_a_row_quarantines_and_a_success_starts_over() {
        let failed = BootOutcome::Failed("boot not ready within 3s".into());
        assert_eq!(after_boot(0, &failed, 3), (1, false));
        assert_eq!(after_boot(1, &failed, 3), (2, false));
        assert_eq!(after_boot(2, &failed, 3), (3, true));
        assert_eq!(after_boot(2, &BootOutcome::Ready, 3), (0, false));
    }

    #[test]
    fn a_stopped_boot_counts_neither_way() {
        assert_eq!(after_boot(2, &BootOutcome::Stopped, 3), (2, false));
    }

    #[test]
    fn quarantine_happens_once_not_on_every_later_failure() {
        let failed = BootOutcome::Failed("x".into());
        assert_eq!(after_boot(3, &failed, 3), (4, false));
    }
}
