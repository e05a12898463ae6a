//! Records on the event log each time a worker goes offline: its tombstone
//! (it stopped cleanly) or its silence. The gateway's registry watch is the
//! one that publishes it (the scheduler does not), once a second from the
//! records it holds. One departure is one event: the message id
//! (`offline:<worker>:<last heartbeat>`) makes a second gateway's publish
//! within the stream's duplicate window a no-op, and the offline records
//! already in the views, read at start, keep a restarted gateway from
//! publishing one again.
//!
//! Silence counts as the scheduler counts it: only once the registry has
//! shown a record three of the worker's heartbeats after its last one. A
//! registry that went quiet (a stalled watch, an election) makes every
//! worker look silent; that is no departure. So a lone worker killed is
//! recorded offline once another worker is heard.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use testarena_events::{
    now_millis, rfc3339_of_millis, EventLog, WorkerEvent, WorkerEventBody, WorkerRecord,
};
use testarena_views::Views;
use tokio_util::sync::CancellationToken;

use crate::registry_watch::RegistryWatch;

/// How often the records are looked over.
const EVERY: Duration = Duration::from_secs(1);

/// A worker that went offline: what its event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Departure {
    pub worker: String,
    pub last_seen_ms: u64,
    /// Stopped cleanly (a tombstone), else silent.
    pub left: bool,
}

impl Departure {
    /// Who the event names: the worker that left, or the registry that
    /// stopped hearing it.
    fn event(&self) -> WorkerEvent {
        let by = if self.left {
            self.worker.as_str()
        } else {
            "registry"
        };
        WorkerEvent::new(
            &self.worker,
            by,
            WorkerEventBody::Offline {
                last_seen: rfc3339_of_millis(self.last_seen_ms),
                left: self.left,
            },
        )
    }

    fn key(&self) -> (String, String) {
        (self.worker.clone(), rfc3339_of_millis(self.last_seen_ms))
    }
}

/// Pure: whether `record` says its worker is offline at `now_ms`, given the
/// newest `last_seen_ms` of any record the registry showed.
pub(crate) fn departure(record: &WorkerRecord, freshest_ms: u64, now_ms: u64) -> Option<Departure> {
    let left = record.left_ms.is_some();
    let silent_after = record
        .last_seen_ms
        .saturating_add(record.heartbeat_ms.saturating_mul(3));
    let silent = !record.is_live(now_ms) && freshest_ms > silent_after;
    (left || silent).then(|| Departure {
        worker: record.id.clone(),
        last_seen_ms: record.last_seen_ms,
        left,
    })
}

/// Pure: the departures among `records` not in `recorded` yet.
pub(crate) fn unrecorded(
    records: &[WorkerRecord],
    recorded: &HashSet<(String, String)>,
    now_ms: u64,
) -> Vec<Departure> {
    let freshest_ms = records.iter().map(|r| r.last_seen_ms).max().unwrap_or(0);
    records
        .iter()
        .filter_map(|r| departure(r, freshest_ms, now_ms))
        .filter(|d| !recorded.contains(&d.key()))
        .collect()
}

/// Looks the registry over every second until `shutdown`, publishing each
/// departure not recorded yet.
pub(crate) async fn run(
    registry: Arc<RegistryWatch>,
    views: Views,
    events: EventLog,
    shutdown: CancellationToken,
) {
    let mut recorded: Option<HashSet<(String, String)>> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        // Until the views can be read, nothing is known to be recorded.
        if recorded.is_none() {
            recorded = views.recorded_offline().await.ok();
        }
        let Some(recorded) = recorded.as_mut() else {
            continue;
        };
        for departure in unrecorded(&registry.workers(), recorded, now_millis()) {
            let id = format!("offline:{}:{}", departure.worker, departure.last_seen_ms);
            match events
                .publish_worker_event(&departure.event(), Some(id))
                .await
            {
                Ok(_) => {
                    recorded.insert(departure.key());
                }
                Err(e) => {
                    tracing::debug!(error = %e, worker = %departure.worker, "could not record a worker offline; trying again")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn record(id: &str, last_seen_ms: u64) -> WorkerRecord {
        WorkerRecord {
            id: id.into(),
            host: "h".into(),
            version: "0".into(),
            profiles: Vec::new(),
            default_profile: None,
            labels: Vec::new(),
            slots: 1,
            busy: 0,
            state: BTreeMap::new(),
            last_seen_ms,
            heartbeat_ms: 1_000,
            left_ms: None,
            boards: Vec::new(),
            board_profiles: Vec::new(),
        }
    }

    #[test]
    fn a_tombstone_is_a_departure_at_once_by_the_worker() {
        let gone = record("w1", 5_000).leaving(5_000);
        let found = unrecorded(&[gone], &HashSet::new(), 5_000);
        assert_eq!(
            found,
            vec![Departure {
                worker: "w1".into(),
                last_seen_ms: 5_000,
                left: true
            }]
        );
        assert_eq!(found[0].event().by, "w1");
    }

    #[test]
    fn silence_counts_only_once_the_registry_heard_another_record_after_it() {
        let silent = record("w1", 5_000);
        // Everyone silent: the registry itself may be quiet.
        assert!(unrecorded(std::slice::from_ref(&silent), &HashSet::new(), 60_000).is_empty());
        let other = record("w2", 8_001);
        let found = unrecorded(&[silent.clone(), other], &HashSet::new(), 9_000);
        assert_eq!(found.len(), 1);
        assert!(!found[0].left);
        assert_eq!(found[0].event().by, "registry");
        // Heard within three heartbeats of the last: not yet.
        let other = record("w2", 8_000);
        assert!(unrecorded(&[silent, other], &HashSet::new(), 9_000).is_empty());
    }

    #[test]
    fn a_recorded_departure_is_not_published_again_but_the_next_one_is() {
        let gone = record("w1", 5_000).leaving(5_000);
        let mut recorded = HashSet::new();
        recorded.insert(("w1".to_owned(), rfc3339_of_millis(5_000)));
        assert!(unrecorded(&[gone], &recorded, 9_000).is_empty());
        let again = record("w1", 7_000).leaving(7_000);
        assert_eq!(unrecorded(&[again], &recorded, 9_000).len(), 1);
    }
}
