//! The queue folders of a restored snapshot, written by the following
//! projector in the background: a rebuild from a snapshot ends once the
//! views are restored and replayed, without writing a `queue_status.json`
//! for each of the (possibly millions of) queues the snapshot holds — on
//! a disk where a small file costs 0.1–0.2 ms, those files, not the events
//! after the snapshot, would be the rebuild's time. A step at a time
//! inside the loop, so the folders keep their one writer and a live batch
//! waits at most one step.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Projector;
use crate::queue_folder::QueueFolders;
use crate::store;
use crate::view::QueueView;

/// Queues per step: about 50 ms of file writes on a slow disk.
const STEP: usize = 256;
/// The pause between steps, in which batches go first.
const STEP_PAUSE: Duration = Duration::from_millis(5);

/// The steps' ticker: a late step waits its pause, it is not made up.
pub(super) fn step_ticker() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(STEP_PAUSE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// A pending restore: the last id written, and what it did so far.
pub(super) struct FolderRestore {
    after: String,
    written: u64,
    started: Instant,
}

impl FolderRestore {
    pub(super) fn resume(after: String) -> Self {
        Self {
            after,
            written: 0,
            started: Instant::now(),
        }
    }
}

impl Projector {
    /// Reads whether a restore is pending, as committed.
    pub(super) async fn resume_folder_restore(
        &mut self,
        conn: &mut sqlx::SqliteConnection,
    ) -> anyhow::Result<()> {
        self.folder_restore = store::folder_restore(conn)
            .await?
            .map(FolderRestore::resume);
        if let Some(restore) = &self.folder_restore {
            tracing::info!(
                after = restore.after,
                "writing the restored queues' folders in the background"
            );
        }
        Ok(())
    }

    /// Writes the next step's status files from the views as committed,
    /// then records how far it got (or that it is done).
    pub(super) async fn restore_folders_step(&mut self) -> anyhow::Result<()> {
        self.write_next_folders()
            .await
            .context("writing restored queue folders")
    }

    async fn write_next_folders(&mut self) -> anyhow::Result<()> {
        let Some(restore) = &mut self.folder_restore else {
            return Ok(());
        };
        let mut conn = self.pool.acquire().await?;
        let rows = store::views_after(&mut conn, &restore.after, STEP).await?;
        let mut files = Vec::with_capacity(rows.len());
        for (id, json) in &rows {
            let view: QueueView = serde_json::from_str(json)
                .with_context(|| format!("reading the view of queue {id}"))?;
            files.push((id.clone(), QueueFolders::status_json(&view)?));
        }
        self.folders
            .write_statuses(files)
            .await
            .context("writing restored queue_status.json files")?;
        restore.written += rows.len() as u64;
        let done = rows.len() < STEP;
        if let Some((last, _)) = rows.last() {
            restore.after.clone_from(last);
        }
        store::set_folder_restore(&mut conn, (!done).then_some(restore.after.as_str())).await?;
        if done {
            tracing::info!(
                queues = restore.written,
                seconds = restore.started.elapsed().as_secs_f64(),
                "queue folders restored"
            );
            self.folder_restore = None;
        }
        Ok(())
    }
}
