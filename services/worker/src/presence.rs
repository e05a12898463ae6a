//! This worker in the registry bucket: its `WorkerRecord`, put on every
//! heartbeat and at once when what it takes changes (drain, quarantine,
//! readmit). When the worker stops it puts its tombstone (`left_ms`): the
//! dispatcher gives its queues to others at once, without waiting for three
//! silent heartbeats, and the gateway still knows what it offers, so a queue
//! only it can run is accepted while it restarts for an upgrade.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv;
use testarena_events::{
    now_millis, BoardAdmission, BoardName, HealthResult, ProfileAdmission, ProfileName,
    ProfileState, WorkerRecord,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a stopping worker tries to put its tombstone.
const LEAVE_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(crate) struct Presence {
    record: Arc<Mutex<WorkerRecord>>,
    changed: Arc<Notify>,
}

impl Presence {
    pub fn new(record: WorkerRecord) -> Self {
        Self {
            record: Arc::new(Mutex::new(record)),
            changed: Arc::new(Notify::new()),
        }
    }

    pub fn id(&self) -> String {
        self.lock().id.clone()
    }

    pub fn snapshot(&self) -> WorkerRecord {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WorkerRecord> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn change(&self, edit: impl FnOnce(&mut WorkerRecord)) {
        edit(&mut self.lock());
        self.changed.notify_one();
    }

    /// Busy slots ride the next heartbeat: the dispatcher counts what it
    /// gave each worker itself, so a put per queue start and end would only
    /// cost (two KV writes per queue) without changing a decision.
    pub fn slot_taken(&self) {
        self.lock().busy += 1;
    }

    pub fn slot_freed(&self) {
        let mut record = self.lock();
        record.busy = record.busy.saturating_sub(1);
    }

    /// Takes nothing new: every profile `draining`.
    pub fn drain(&self) {
        self.change(|r| {
            for profile in r.profiles.clone() {
                r.state.insert(
                    profile,
                    ProfileState {
                        state: ProfileAdmission::Draining,
                        reason: Some("drained by an operator".into()),
                    },
                );
            }
        });
    }

    pub fn quarantine(&self, profile: &ProfileName, reason: String) {
        self.change(|r| {
            r.state.insert(
                profile.clone(),
                ProfileState {
                    state: ProfileAdmission::Quarantined,
                    reason: Some(reason),
                },
            );
        });
    }

    pub fn is_quarantined(&self, profile: &ProfileName) -> bool {
        self.lock()
            .state
            .get(profile)
            .is_some_and(|s| s.state == ProfileAdmission::Quarantined)
    }

    /// Takes `profile` again (a passing health command, a readmit).
    pub fn readmit(&self, profile: &ProfileName) {
        self.change(|r| {
            r.state.insert(
                profile.clone(),
                ProfileState {
                    state: ProfileAdmission::Ready,
                    reason: None,
                },
            );
        });
    }

    /// A board's admission changed (board_health.rs).
    pub fn set_board(&self, board: &BoardName, admission: BoardAdmission, reason: Option<String>) {
        self.change(|r| {
            if let Some(record) = r.boards.iter_mut().find(|b| &b.name == board) {
                record.admission = admission;
                record.reason = reason;
            }
        });
    }

    /// A board's health command ran.
    pub fn set_board_health(&self, board: &BoardName, health: HealthResult) {
        self.change(|r| {
            if let Some(record) = r.boards.iter_mut().find(|b| &b.name == board) {
                record.health = Some(health);
            }
        });
    }

    /// Puts the record every heartbeat and on every change until
    /// `shutdown`, then the tombstone.
    pub async fn publish(&self, bucket: kv::Store, shutdown: CancellationToken) {
        let every = Duration::from_millis(self.lock().heartbeat_ms.max(1));
        loop {
            let bytes = {
                let mut record = self.lock();
                record.last_seen_ms = now_millis();
                serde_json::to_vec(&*record).expect("a worker record serializes")
            };
            let id = self.id();
            if let Err(e) = bucket.put(&id, bytes.into()).await {
                tracing::warn!(error = %e, "putting this worker's record in the registry failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.changed.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
        // Bounded: with NATS down, the record goes stale in three
        // heartbeats anyway, and shutdown must not wait on it.
        let tombstone = self.snapshot().leaving(now_millis());
        let bytes = serde_json::to_vec(&tombstone).expect("a worker record serializes");
        match tokio::time::timeout(LEAVE_WAIT, bucket.put(&tombstone.id, bytes.into())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "putting this worker's tombstone in the registry failed")
            }
            Err(_) => tracing::warn!("putting this worker's tombstone in the registry timed out"),
        }
    }
}
