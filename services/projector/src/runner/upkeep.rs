//! The loop's upkeep beside its batches: marking the queues the retention
//! sweep expired, taking snapshots, and the start of a rebuild from one.
//! Each runs inside the loop, so the views keep their one writer.

use anyhow::Context as _;
use tokio::sync::mpsc::Receiver;

use super::Projector;
use crate::event_batch::Stored;
use crate::expiry::Expired;
use crate::snapshot;
use crate::store;

/// The next queues the sweep expired; never, without a sweep.
pub(super) async fn recv_expired(expired: &mut Option<Receiver<Expired>>) -> Option<Expired> {
    match expired {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

impl Projector {
    /// Marks the views of queues whose messages left JetStream
    /// (`log_expired_at`), and removes their `queue_log.txt`, in one
    /// transaction of their own.
    pub(super) async fn mark_expired(&mut self, expired: Expired) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut stored = store::load_many(&mut tx, &expired.ids).await?;
        let mut rows = Vec::with_capacity(expired.ids.len());
        let mut status_files = Vec::with_capacity(expired.ids.len());
        for id in &expired.ids {
            let Some(Stored::View { view, .. }) = stored.get_mut(id) else {
                continue;
            };
            view.log_expired_at = Some(expired.at.clone());
            rows.push((id.clone(), serde_json::to_string(view)?));
            // An ended queue's last change: its file stays the final view.
            status_files.extend(self.status_file(id, view, true)?);
        }
        store::update_views(&mut tx, &rows).await?;
        store::forget_logs(&mut tx, &expired.ids).await?;
        self.folders
            .write_statuses(status_files)
            .await
            .context("writing queue_status.json files")?;
        self.folders
            .remove_logs(&expired.ids)
            .await
            .context("removing expired queue_log.txt files")?;
        tx.commit().await.context("committing expired queues")?;
        for id in &expired.ids {
            self.log_files.remove(id);
            self.log_attempts.remove(id);
        }
        Ok(())
    }

    /// How often `follow` asks for a snapshot (its tick is off without
    /// snapshots).
    pub(super) fn snapshot_period(&self) -> std::time::Duration {
        self.snapshots
            .as_ref()
            .map_or(std::time::Duration::from_secs(3600), |s| s.every)
    }

    /// Takes a snapshot when the views moved since the last one and no
    /// upload is under way: the copy now (the loop writes nothing
    /// meanwhile), the upload on a task of its own. Best effort: a failure
    /// is logged and the next period tries again.
    pub(super) async fn snapshot(&mut self) {
        let Some(snapshots) = &mut self.snapshots else {
            return;
        };
        if snapshots.upload.as_ref().is_some_and(|u| !u.is_finished()) {
            return;
        }
        if let Some(done) = snapshots.upload.take() {
            if !stored(done.await) {
                snapshots.last = None;
            }
        }
        let offsets = match snapshot::copy_views(&self.pool, &snapshots.local_copy).await {
            Ok(offsets) => offsets,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "could not copy the views for a snapshot"
                );
                return;
            }
        };
        if snapshots.last == Some(offsets) {
            let _ = tokio::fs::remove_file(&snapshots.local_copy).await;
            return;
        }
        snapshots.last = Some(offsets);
        let (js, names, file) = (
            snapshots.js.clone(),
            snapshots.names.clone(),
            snapshots.local_copy.clone(),
        );
        snapshots.upload = Some(tokio::spawn(async move {
            snapshot::upload(&js, &names, &file, offsets).await?;
            tracing::info!(
                events = offsets.events,
                logs = offsets.logs,
                "snapshot stored"
            );
            Ok(())
        }));
    }

    /// At a clean shutdown: the upload under way ends, then one more
    /// snapshot of the views as they are now.
    pub(super) async fn last_snapshot(&mut self) {
        self.await_upload().await;
        self.snapshot().await;
        self.await_upload().await;
    }

    async fn await_upload(&mut self) {
        let Some(snapshots) = &mut self.snapshots else {
            return;
        };
        if let Some(upload) = snapshots.upload.take() {
            if !stored(upload.await) {
                snapshots.last = None;
            }
        }
    }

    /// A rebuild that restored a snapshot: the logs stream is replayed from
    /// its start (a snapshot holds no `queue_log.txt`), and the queue
    /// folders are written later, by the following projector
    /// (folder_restore.rs).
    pub(super) async fn restored_from_snapshot(&mut self) -> anyhow::Result<()> {
        let mut conn = self.pool.acquire().await?;
        store::forget_all_logs(&mut conn).await?;
        // Every queue's folder is still to be written, from the first id.
        store::set_folder_restore(&mut conn, Some("")).await?;
        Ok(())
    }
}

/// Whether an upload stored its snapshot; a failure is logged.
fn stored(result: Result<anyhow::Result<()>, tokio::task::JoinError>) -> bool {
    match result {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "a snapshot upload failed; the next period tries again"
            );
            false
        }
        Err(error) => {
            tracing::warn!(%error, "a snapshot upload task ended early");
            false
        }
    }
}
