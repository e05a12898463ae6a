//! The `worker_changes` table (`migrations/0010_worker_changes.sql`): one
//! row per worker event, in stream order — who drained, quarantined,
//! readmitted a worker's profile or saw it go offline, and when. Pure
//! `row_of` decides the row; `save` writes a batch's rows in the caller's
//! transaction. A replayed event writes its row again over itself (keyed
//! by its stream sequence), so a batch applied twice changes nothing.

use testarena_events::{WorkerChange, WorkerEvent, WorkerEventBody};

/// One row of `worker_changes`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WorkerChangeRow {
    pub seq: u64,
    pub worker: String,
    pub change: WorkerChange,
    /// An offline event's `last_seen`: one offline row per departure.
    pub last_seen: Option<String>,
}

/// Pure: the row a worker event at stream sequence `seq` adds.
pub(crate) fn row_of(seq: u64, event: &WorkerEvent) -> WorkerChangeRow {
    let last_seen = match &event.body {
        WorkerEventBody::Offline { last_seen, .. } => Some(last_seen.clone()),
        _ => None,
    };
    WorkerChangeRow {
        seq,
        worker: event.worker.clone(),
        change: WorkerChange::of(event),
        last_seen,
    }
}

/// Pure: the rows of a batch's worker events, with their sequences.
pub(crate) fn rows_of(events: &[(u64, WorkerEvent)]) -> Vec<WorkerChangeRow> {
    events
        .iter()
        .map(|(seq, event)| row_of(*seq, event))
        .collect()
}

pub(crate) async fn save(
    tx: &mut sqlx::SqliteConnection,
    rows: &[WorkerChangeRow],
) -> anyhow::Result<()> {
    for row in rows {
        sqlx::query(
            "INSERT OR REPLACE INTO worker_changes
                (seq, worker, kind, at, by_whom, profile, detail, last_seen)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.seq as i64)
        .bind(&row.worker)
        .bind(&row.change.kind)
        .bind(&row.change.at)
        .bind(&row.change.by)
        .bind(&row.change.profile)
        .bind(&row.change.detail)
        .bind(&row.last_seen)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offline_row_keeps_the_last_heartbeat_and_a_drain_has_no_profile() {
        let offline = WorkerEvent::new(
            "w1",
            "w1",
            WorkerEventBody::Offline {
                last_seen: "2026-01-01T00:00:00Z".into(),
                left: true,
            },
        );
        let row = row_of(7, &offline);
        assert_eq!(row.seq, 7);
        assert_eq!(row.last_seen.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(row.change.detail.as_deref(), Some("left"));
        let drained = row_of(
            8,
            &WorkerEvent::new("w1", "alice", WorkerEventBody::Drained {}),
        );
        assert_eq!(
            (drained.change.kind.as_str(), drained.change.by.as_str()),
            ("drained", "alice")
        );
        assert_eq!(drained.change.profile, None);
    }
}
