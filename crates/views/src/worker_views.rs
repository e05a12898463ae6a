//! The reads behind `GET /api/workers` beyond the registry: the queues
//! running now (whose views say which worker holds each) and each worker's
//! recent state changes from `worker_changes`; and the offline records the
//! gateway checks so one departure is recorded once.

use std::collections::{BTreeMap, HashSet};

use sqlx::Row;
use testarena_events::{QueueView, WorkerChange};

use crate::{Views, ViewsError};

impl Views {
    /// Every `Running` queue's view.
    pub async fn running_queues(&self) -> Result<Vec<QueueView>, ViewsError> {
        let rows = sqlx::query("SELECT view_json FROM queues WHERE status = 'Running'")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok(serde_json::from_str(row.get::<&str, _>(0))?))
            .collect()
    }

    /// Per worker, its latest `per_worker` state changes, newest first.
    pub async fn worker_changes(
        &self,
        per_worker: u32,
    ) -> Result<BTreeMap<String, Vec<WorkerChange>>, ViewsError> {
        let rows = sqlx::query(
            "SELECT worker, kind, at, by_whom, profile, detail FROM (
                SELECT *, row_number() OVER (PARTITION BY worker ORDER BY seq DESC) AS n
                  FROM worker_changes)
              WHERE n <= ? ORDER BY worker, seq DESC",
        )
        .bind(i64::from(per_worker))
        .fetch_all(&self.pool)
        .await?;
        let mut changes: BTreeMap<String, Vec<WorkerChange>> = BTreeMap::new();
        for row in &rows {
            changes.entry(row.get(0)).or_default().push(WorkerChange {
                kind: row.get(1),
                at: row.get(2),
                by: row.get(3),
                profile: row.get(4),
                detail: row.get(5),
            });
        }
        Ok(changes)
    }

    /// The (worker, last heartbeat) of every recorded offline event.
    pub async fn recorded_offline(&self) -> Result<HashSet<(String, String)>, ViewsError> {
        let rows = sqlx::query(
            "SELECT worker, last_seen FROM worker_changes
              WHERE kind = 'offline' AND last_seen IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
