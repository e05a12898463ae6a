//! The retention sweep (`--retention-days`): a task of the projector's
//! process that, every [`Retention::sweep_period`], lists the ended queues
//! not yet expired (read-only, beside the writer's connection), asks the
//! pure [`retention::to_expire`] which go, and removes their events (but
//! the kept kinds), their log batches and their artifacts from JetStream.
//! It then hands the ids to the projector's loop, which marks each view
//! `log_expired_at` and drops its `queue_log.txt` in a batch of its own: the
//! loop stays the views' one writer. A sweep killed half-way is simply run
//! again: every purge and delete is idempotent, and a queue is marked only
//! after its messages are gone.

use std::path::PathBuf;

use anyhow::Context as _;
use async_nats::jetstream::{self, object_store::ObjectStore};
use futures_util::StreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use testarena_events::{ArenaNames, QueueId, QueueView};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::retention::{self, Candidate, Retention};

/// Ended queues read per sweep step: a step's purges finish before the next
/// page is read, so a first sweep over years of history goes by pages.
const PAGE: i64 = 500;

/// Queues whose messages left JetStream, for the loop to mark.
pub(crate) struct Expired {
    pub ids: Vec<String>,
    /// When they expired (RFC 3339), the views' `log_expired_at`.
    pub at: String,
}

/// The sweep's side of the hand-over.
pub(crate) struct Sweep {
    js: jetstream::Context,
    names: ArenaNames,
    db_path: PathBuf,
    retention: Retention,
    marks: mpsc::Sender<Expired>,
}

impl Sweep {
    pub(crate) fn new(
        js: jetstream::Context,
        names: ArenaNames,
        db_path: PathBuf,
        retention: Retention,
    ) -> (Self, mpsc::Receiver<Expired>) {
        let (marks, receiver) = mpsc::channel(4);
        let sweep = Self {
            js,
            names,
            db_path,
            retention,
            marks,
        };
        (sweep, receiver)
    }

    /// Sweeps every period until `shutdown`; a failed sweep is logged and
    /// tried again at the next.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.retention.sweep_period());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.sweep_once(&shutdown).await {
                Ok(0) => {}
                Ok(expired) => tracing::info!(expired, "retention: queues expired"),
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "retention sweep failed; trying again at the next"
                ),
            }
        }
    }

    /// One sweep: page by page until a page expires nothing. Returns how
    /// many queues expired.
    async fn sweep_once(&self, shutdown: &CancellationToken) -> anyhow::Result<usize> {
        let pool = read_only(&self.db_path).await?;
        let now = OffsetDateTime::now_utc();
        let cutoff = self.retention.cutoff(now);
        let at = now.format(&Rfc3339).context("formatting now")?;
        let mut total = 0;
        let mut after = i64::MIN;
        while !shutdown.is_cancelled() {
            let (page, last) = candidates(&pool, &cutoff.format(&Rfc3339)?, after).await?;
            let Some(last) = last else { break };
            after = last;
            let ids = retention::to_expire(
                &page.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
                cutoff,
            );
            let mut gone = Vec::with_capacity(ids.len());
            for (candidate, artifacts) in page.iter().filter(|(c, _)| ids.contains(&c.id)) {
                self.remove_messages(&candidate.id, artifacts)
                    .await
                    .with_context(|| format!("expiring queue {}", candidate.id))?;
                gone.push(candidate.id.clone());
            }
            total += gone.len();
            if !gone.is_empty() {
                let marks = Expired {
                    ids: gone,
                    at: at.clone(),
                };
                if self.marks.send(marks).await.is_err() {
                    break;
                }
            }
        }
        pool.close().await;
        Ok(total)
    }

    /// A queue's events (but the kept kinds), its log batches and its
    /// artifacts leave JetStream.
    async fn remove_messages(&self, id: &str, artifacts: &[String]) -> anyhow::Result<()> {
        let queue_id = QueueId::parse(id).map_err(|e| anyhow::anyhow!("stored id {id:?}: {e}"))?;
        let events = self
            .js
            .get_stream_no_info(&self.names.events_stream)
            .await
            .context("looking up the events stream")?;
        let filter = self.names.queue_events_filter(&queue_id);
        let mut listed = events
            .info_with_subjects(&filter)
            .await
            .context("listing the queue's subjects")?;
        let mut subjects = Vec::new();
        while let Some(entry) = listed.next().await {
            subjects.push(entry.context("listing the queue's subjects")?.0);
        }
        let subtree = filter.trim_end_matches('>');
        for subject in retention::purged_subjects(subtree, subjects.iter().map(String::as_str)) {
            events
                .purge()
                .filter(&subject)
                .await
                .with_context(|| format!("purging {subject}"))?;
        }
        self.js
            .get_stream_no_info(&self.names.logs_stream)
            .await
            .context("looking up the logs stream")?
            .purge()
            .filter(self.names.log_subject(&queue_id))
            .await
            .context("purging the queue's log batches")?;
        if !artifacts.is_empty() {
            let bucket = self
                .js
                .get_object_store(&self.names.artifacts_bucket)
                .await
                .context("opening the artifacts bucket")?;
            delete_artifacts(&bucket, &self.names, &queue_id, artifacts).await;
        }
        Ok(())
    }
}

/// Deletes the queue's artifacts; one already gone (the bucket's own
/// `--artifact-retention-days` may come first) is no error.
async fn delete_artifacts(
    bucket: &ObjectStore,
    names: &ArenaNames,
    queue_id: &QueueId,
    artifacts: &[String],
) {
    for name in artifacts {
        let object = names.artifact_object(queue_id, name);
        if let Err(error) = bucket.delete(&object).await {
            tracing::debug!(%queue_id, %object, %error, "retention: artifact not deleted (already gone?)");
        }
    }
}

/// A read-only connection to the views, beside the loop's writer.
async fn read_only(path: &std::path::Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {} to sweep", path.display()))
}

/// One page of ended, unexpired queues that ended before `cutoff` (by the
/// text of `finished_at`, a loose filter: `decide` is the judge), after
/// `submitted_seq` `after`, each with its artifacts' names; and the page's
/// last `submitted_seq` (`None`: no more).
async fn candidates(
    pool: &SqlitePool,
    cutoff: &str,
    after: i64,
) -> anyhow::Result<(Vec<(Candidate, Vec<String>)>, Option<i64>)> {
    let rows = sqlx::query(
        "SELECT q.submitted_seq, q.view_json, b.status FROM queues q
           LEFT JOIN bisects b ON b.id = q.view_json->>'bisect'
         WHERE q.submitted_seq > ? AND q.status IN ('Finished', 'Error', 'Cancelled')
           AND q.view_json->>'log_expired_at' IS NULL
           AND q.view_json->>'finished_at' < ?
         ORDER BY q.submitted_seq LIMIT ?",
    )
    .bind(after)
    .bind(cutoff)
    .bind(PAGE)
    .fetch_all(pool)
    .await
    .context("listing ended queues")?;
    let last = rows.last().map(|r| r.get::<i64, _>(0));
    let mut page = Vec::with_capacity(rows.len());
    for row in rows {
        let view: QueueView = serde_json::from_str(row.get(1)).context("reading a stored view")?;
        let bisect_status: Option<String> = row.get(2);
        let artifacts = view.artifacts.iter().map(|a| a.name.clone()).collect();
        let candidate = Candidate {
            id: view.id,
            status: view.status,
            finished_at: view.finished_at,
            in_running_bisect: bisect_status.as_deref() == Some("Running"),
        };
        page.push((candidate, artifacts));
    }
    Ok((page, last))
}
