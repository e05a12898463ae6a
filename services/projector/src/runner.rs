//! The projector's loop: two ordered consumers (events, logs) starting after
//! the committed offsets, drained in batches, each batch one transaction.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use futures_util::{FutureExt, StreamExt};
use sqlx::SqlitePool;
use testarena_events::{
    await_streams, ArenaNames, BisectEvent, BoardEvent, Event, LogAttempts, LogBatch, StreamLimits,
    TestEvent, TestKey, WindowFigures, WorkerEvent,
};
use tokio_util::sync::CancellationToken;

use crate::auto_quarantine::AutoQuarantine;
use crate::expiry::{Expired, Sweep};
use crate::retention::Retention;
use crate::snapshot;
use folder_restore::FolderRestore;
use upkeep::recv_expired;

mod folder_restore;
mod upkeep;
use crate::bisect_projection;
use crate::bisect_store;
use crate::board_view;
use crate::event_batch::{self, QueueFold, Stored, Write};
use crate::expected_durations::ExpectedDurations;
use crate::firmware_sizes::{self, SizeRow};
use crate::queue_folder::{LogAppend, QueueFolders, StatusWriter};
use crate::stall::{NotApplied, Stall};
use crate::store::{self, Durability, EVENTS_OFFSET, LOGS_OFFSET};
use crate::task_progress;
use crate::test_history::{HistoryChanges, TestHistory};
use crate::view::QueueView;
use crate::view_counts::{self, CountChanges, Counted};
use crate::worker_changes;

/// Largest batch folded into one transaction while following.
const MAX_BATCH: usize = 2000;
/// Largest batch while rebuilding: fewer, larger transactions.
const REBUILD_MAX_BATCH: usize = 10_000;
/// How long a rebuild waits for more messages to fill a batch.
const REBUILD_FILL: Duration = Duration::from_millis(5);
/// How long a following projector lets a batch of workers' events wait for
/// more: a queue's events come in bursts (a task's finish, the next one's
/// start), and each batch costs a transaction (and a `queue_status.json`
/// per queue whose status it changes). Events someone waits on are never held.
const FOLLOW_FILL: Duration = Duration::from_millis(2);
/// Messages a rebuild's reader task may hold ahead of the projector.
const REBUILD_READ_AHEAD: usize = 2 * REBUILD_MAX_BATCH;
/// How often a following projector checks that its consumers still deliver.
const STALL_CHECK: Duration = Duration::from_secs(2);
/// How often a rebuild checks whether it has read everything.
const CATCH_UP_CHECK: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    pub names: ArenaNames,
    pub limits: StreamLimits,
    /// Root of the per-queue folders.
    pub data_dir: PathBuf,
    pub db_path: PathBuf,
    /// Names this projector's "applied" notifications, which its gateway awaits.
    pub name: String,
    /// `--auto-quarantine`: quarantine tests that turn `flaky` at this flip
    /// rate (`--flaky-flip-rate`); `None`: off.
    pub auto_quarantine: Option<f64>,
    /// `--retention-days`: ended queues' messages leave JetStream after it
    /// (`expiry.rs`); `None`: kept for ever.
    pub retention: Option<Retention>,
    /// `--snapshot-minutes`: how often a following projector puts a
    /// snapshot of its views in the snapshots bucket (and once more at a
    /// clean shutdown); `None`: never.
    pub snapshot_every: Option<Duration>,
}

/// Where `rebuild` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildFrom {
    /// The newest snapshot in the bucket, then what follows it; the start
    /// of the streams when there is none.
    NewestSnapshot,
    /// The start of the streams (`--from-start`): an expired queue's
    /// history, in the snapshots alone, is not rebuilt.
    Start,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub events: u64,
    pub log_batches: u64,
    pub elapsed: Duration,
    /// The events sequence of the snapshot it started from, if any.
    pub snapshot_events_seq: Option<u64>,
}

struct Projector {
    pool: SqlitePool,
    folders: QueueFolders,
    client: async_nats::Client,
    applied_subject: String,
    /// Committed length (bytes, lines) of the log files touched since
    /// `follow` began, each cut back to it on first touch. The projector is
    /// the only writer, so after that it needs no query per batch.
    log_files: HashMap<String, (u64, u64)>,
    /// The newest attempt with a line in each of those log files, per
    /// shard, as committed: an older attempt's later batches are left out.
    log_attempts: HashMap<String, LogAttempts>,
    /// The `expected_durations` table as committed plus the current batch;
    /// read again whenever `follow` begins, so an uncommitted batch's
    /// entries never outlive it.
    durations: ExpectedDurations,
    /// The tests known and quarantined as committed plus the current batch;
    /// read again whenever `follow` begins, like `durations`.
    history: TestHistory,
    /// Tells a test event from a queue's in the events stream.
    names: ArenaNames,
    /// With `--auto-quarantine`, while following (never while rebuilding).
    auto_quarantine: Option<AutoQuarantine>,
    /// Set while rebuilding (which also reads in large batches, ahead, by a
    /// separate task): status files go to a writer thread instead.
    rebuild_files: Option<RebuildFiles>,
    /// Whether a batch could not be written, announced for `/readyz`.
    stall: Stall,
    /// Queues the retention sweep expired, to mark in the views.
    expired: Option<tokio::sync::mpsc::Receiver<Expired>>,
    /// Snapshots while following.
    snapshots: Option<Snapshots>,
    /// A restored snapshot's queue folders still to write, while following.
    folder_restore: Option<FolderRestore>,
}

/// A following projector's snapshots: one upload at a time, off the loop.
struct Snapshots {
    every: Duration,
    js: jetstream::Context,
    names: ArenaNames,
    local_copy: PathBuf,
    /// The offsets of the last snapshot taken, to skip one that would
    /// reflect the same.
    last: Option<snapshot::Offsets>,
    upload: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A rebuild's status files: each queue's latest view waits here until a
/// batch passes without changing it, then goes to the writer thread.
struct RebuildFiles {
    writer: StatusWriter,
    /// Changed views not yet handed over, with the batch that last changed them.
    pending: HashMap<String, (QueueView, u64)>,
    /// The current events batch.
    batch: u64,
}

impl RebuildFiles {
    /// Hands over every pending view last changed before batch `before`.
    fn hand_over(&mut self, before: u64) -> anyhow::Result<()> {
        for (id, (view, _)) in self.pending.extract_if(|_, (_, batch)| *batch < before) {
            self.writer.write(id, QueueFolders::status_json(&view)?);
        }
        Ok(())
    }

    /// Ends an events batch: queues it did not touch are likely done, so
    /// they are written now, while the replay goes on. One that changes
    /// later is written again.
    fn end_batch(&mut self) -> anyhow::Result<()> {
        self.hand_over(self.batch)?;
        self.batch += 1;
        Ok(())
    }
}

/// Follows both streams until `shutdown` fires.
pub async fn run(
    client: async_nats::Client,
    config: ProjectorConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let js = jetstream::new(client.clone());
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        _ = await_streams(&js, &config.names, &config.limits) => {}
    }
    let mut projector = Projector::open(client, &config, Durability::CrashSafe).await?;
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(retention) = config.retention {
        let (sweep, marks) = Sweep::new(
            js.clone(),
            config.names.clone(),
            config.db_path.clone(),
            retention,
        );
        projector.expired = Some(marks);
        tasks.spawn(sweep.run(shutdown.clone()));
    }
    projector.snapshots = config.snapshot_every.map(|every| Snapshots {
        every,
        js: js.clone(),
        names: config.names.clone(),
        local_copy: snapshot::local_copy(&config.db_path),
        last: None,
        upload: None,
    });
    loop {
        match projector
            .follow(&js, &config, shutdown.clone(), false)
            .await
        {
            Ok(_) => {
                tasks.join_all().await;
                projector.last_snapshot().await;
                return Ok(());
            }
            Err(e) => {
                // A broker failover or restart, or a batch the views could
                // not take (a full disk): resume from what is committed.
                let pause = projector.stall.after_failure(&e).await;
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// Replays both streams into a fresh database and fresh queue folders, then
/// returns once it has caught up with the streams as they were at the start.
pub async fn rebuild(
    client: async_nats::Client,
    config: ProjectorConfig,
    from: RebuildFrom,
) -> anyhow::Result<RebuildReport> {
    let js = jetstream::new(client.clone());
    tokio::time::timeout(
        Duration::from_secs(30),
        await_streams(&js, &config.names, &config.limits),
    )
    .await
    .context("the streams do not exist (an admin creates them with `testarena init`)")?;
    remove_old_views(&config).await?;
    let started = Instant::now();
    let restored = match from {
        RebuildFrom::NewestSnapshot => snapshot::fetch_newest(&js, &config.names, &config.db_path)
            .await
            .context("restoring the newest snapshot")?,
        RebuildFrom::Start => None,
    };
    let mut projector = Projector::open(client, &config, Durability::Rebuild).await?;
    projector.rebuild_files = Some(RebuildFiles {
        writer: StatusWriter::start(&projector.folders)
            .context("starting the status file writer")?,
        pending: HashMap::new(),
        batch: 0,
    });
    if let Some(offsets) = restored {
        tracing::info!(events = offsets.events, "rebuilding from a snapshot");
        projector.restored_from_snapshot().await?;
    }
    let counts = projector
        .follow(&js, &config, CancellationToken::new(), true)
        .await?;
    let mut files = projector.rebuild_files.take().expect("set above");
    files.hand_over(u64::MAX)?;
    files
        .writer
        .finish()
        .await
        .context("writing queue_status.json files")?;
    store::finish_rebuild(&projector.pool).await?;
    projector.pool.close().await;
    Ok(RebuildReport {
        events: counts.0,
        log_batches: counts.1,
        elapsed: started.elapsed(),
        snapshot_events_seq: restored.map(|o| o.events),
    })
}

/// How often `follow` checks the streams: to see it caught up, or stalled.
fn check_period(until_caught_up: bool) -> Duration {
    if until_caught_up {
        CATCH_UP_CHECK
    } else {
        STALL_CHECK
    }
}

/// An interval whose first tick is one `period` away.
fn ticker(period: Duration) -> tokio::time::Interval {
    tokio::time::interval_at(tokio::time::Instant::now() + period, period)
}

/// A rebuild's start: the old database and queue folders go.
async fn remove_old_views(config: &ProjectorConfig) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = config.db_path.clone().into_os_string();
        path.push(suffix);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).context("removing the old view database")
            }
            _ => {}
        }
    }
    QueueFolders::new(&config.data_dir)
        .remove_all()
        .await
        .context("removing the old queue folders")
}

/// How `follow` drains its two streams into batches.
struct Pace {
    max_batch: usize,
    events_fill: Option<Duration>,
    logs_fill: Option<Duration>,
}

impl Pace {
    fn of(rebuilding: bool) -> Self {
        if rebuilding {
            Pace {
                max_batch: REBUILD_MAX_BATCH,
                events_fill: Some(REBUILD_FILL),
                logs_fill: Some(REBUILD_FILL),
            }
        } else {
            Pace {
                max_batch: MAX_BATCH,
                events_fill: Some(FOLLOW_FILL),
                logs_fill: None,
            }
        }
    }
}

/// Whether the events stream and the logs stream each hold a message after
/// the sequences applied, `at` (events, logs).
async fn streams_behind(
    js: &jetstream::Context,
    config: &ProjectorConfig,
    at: (u64, u64),
) -> anyhow::Result<(bool, bool)> {
    let names = &config.names;
    let events = has_more(
        js,
        &names.events_stream,
        &names.events_stream_filter(),
        at.0,
    )
    .await?;
    let logs = has_more(js, &names.logs_stream, &names.all_logs_filter(), at.1).await?;
    Ok((events, logs))
}

/// Messages wait but nothing arrived since the last check: an ordered
/// consumer lost its server in a failover and did not notice. `follow`
/// fails, and `run` re-creates both from the committed offsets.
fn stalled(behind: (bool, bool), at: (u64, u64), last_check: (u64, u64)) -> bool {
    (behind.0 && at.0 == last_check.0) || (behind.1 && at.1 == last_check.1)
}

/// Whether the stream holds a message after sequence `at` (purged ones do
/// not count).
async fn has_more(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
    at: u64,
) -> anyhow::Result<bool> {
    use async_nats::jetstream::stream::DirectGetErrorKind;
    let stream = js
        .get_stream_no_info(stream)
        .await
        .with_context(|| format!("looking up stream {stream}"))?;
    match stream
        .direct_get_next_for_subject(filter, Some(at + 1))
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(false),
        Err(e) => Err(anyhow::anyhow!("checking for more messages: {e}")),
    }
}

impl Projector {
    async fn open(
        client: async_nats::Client,
        config: &ProjectorConfig,
        durability: Durability,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool: store::open(&config.db_path, durability).await?,
            folders: QueueFolders::new(&config.data_dir),
            applied_subject: config.names.applied_subject(&config.name),
            stall: Stall::new(
                client.clone(),
                config.names.projector_stall_subject(&config.name),
            ),
            client,
            log_files: HashMap::new(),
            log_attempts: HashMap::new(),
            durations: ExpectedDurations::default(),
            history: TestHistory::default(),
            names: config.names.clone(),
            auto_quarantine: match durability {
                Durability::CrashSafe => config.auto_quarantine.map(AutoQuarantine::new),
                Durability::Rebuild => None,
            },
            rebuild_files: None,
            expired: None,
            snapshots: None,
            folder_restore: None,
        })
    }

    /// The loop. With `until_caught_up`, returns once nothing is left to
    /// read in either stream, with how many events and log batches it applied.
    async fn follow(
        &mut self,
        js: &jetstream::Context,
        config: &ProjectorConfig,
        shutdown: CancellationToken,
        until_caught_up: bool,
    ) -> anyhow::Result<(u64, u64)> {
        let (mut events_at, mut logs_at) = self.resume().await?;
        self.notify_applied(events_at).await;

        let rebuilding = self.rebuild_files.is_some();
        let pace = Pace::of(rebuilding);
        let mut events =
            Source::open(js, &config.names.events_stream, events_at + 1, rebuilding).await?;
        let mut logs = Source::open(js, &config.names.logs_stream, logs_at + 1, rebuilding).await?;
        let mut applied = (0u64, 0u64);
        let mut check = ticker(check_period(until_caught_up));
        let mut snapshot_tick = ticker(self.snapshot_period());
        let mut folder_tick = folder_restore::step_ticker();
        let mut last_check = (events_at, logs_at);
        if !self.stall.is_stalled() {
            tracing::info!(events_at, logs_at, "projector following the streams");
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(applied),
                first = events.next() => {
                    let batch = events.drain(first, pace.max_batch, pace.events_fill, |m| !rebuilding && awaited_event(m)).await.context("reading the events stream")?;
                    applied.0 += batch.len() as u64;
                    let at = NotApplied { at: (events_at, logs_at) };
                    events_at = self.apply_events(batch).await.context(at)?;
                    self.notify_applied(events_at).await;
                }
                first = logs.next() => {
                    let batch = logs.drain(first, pace.max_batch, pace.logs_fill, |_| false).await.context("reading the logs stream")?;
                    applied.1 += batch.len() as u64;
                    let at = NotApplied { at: (events_at, logs_at) };
                    logs_at = self.apply_logs(batch).await.context(at)?;
                }
                Some(expired) = recv_expired(&mut self.expired) => {
                    self.mark_expired(expired).await.context("marking expired queues")?;
                }
                _ = snapshot_tick.tick(), if self.snapshots.is_some() => self.snapshot().await,
                _ = folder_tick.tick(), if self.folder_restore.is_some() => self.restore_folders_step().await?,
                _ = check.tick() => {
                    let behind = streams_behind(js, config, (events_at, logs_at)).await?;
                    if until_caught_up && behind == (false, false) {
                        return Ok(applied);
                    }
                    if !until_caught_up && stalled(behind, (events_at, logs_at), last_check) {
                        anyhow::bail!("a stream consumer stalled at events {events_at}, logs {logs_at}");
                    }
                    last_check = (events_at, logs_at);
                    self.stall.applying().await;
                }
            }
        }
    }

    /// Reads back what was committed: the two offsets (returned, events
    /// then logs), the expected durations and the tests. Anything appended
    /// to a log file but not committed before is cut back again.
    async fn resume(&mut self) -> anyhow::Result<(u64, u64)> {
        self.log_files.clear();
        self.log_attempts.clear();
        let mut conn = self.pool.acquire().await?;
        let events_at = store::offset(&mut conn, EVENTS_OFFSET).await?;
        let logs_at = store::offset(&mut conn, LOGS_OFFSET).await?;
        self.durations = ExpectedDurations::from_rows(store::expected_durations(&mut conn).await?);
        let (known, quarantined) = store::tests(&mut conn).await?;
        self.history = TestHistory::from_rows(known, quarantined);
        if self.rebuild_files.is_none() {
            self.resume_folder_restore(&mut conn).await?;
        }
        Ok((events_at, logs_at))
    }

    async fn notify_applied(&self, seq: u64) {
        // Core NATS, best effort: a gateway that misses one also polls the offset.
        if let Err(e) = self
            .client
            .publish(self.applied_subject.clone(), seq.to_string().into())
            .await
        {
            tracing::warn!(error = %e, "could not publish the applied sequence");
        }
    }

    /// Applies a batch of events: loads the queues it touches in one query,
    /// folds the events into them (pure, in `event_batch`), writes the
    /// status files and the rows with the offset, and commits.
    async fn apply_events(&mut self, batch: Vec<jetstream::Message>) -> anyhow::Result<u64> {
        let parsed = parse_events(&self.names, &batch)?;
        let (events, last_seq) = (parsed.queue_events, parsed.last_seq);
        let order = event_batch::queues_in_order(&events);
        let mut tx = self.pool.begin().await?;
        let stored = store::load_many(&mut tx, &order).await?;
        let counted_before = view_counts::counted(&stored);
        let ledgers = event_batch::Ledgers {
            durations: &mut self.durations,
            history: &mut self.history,
        };
        let folds = event_batch::fold_batch(order, stored, &events, &parsed.test_events, ledgers);
        let (durations, history) = (self.durations.take_changed(), self.history.take_changes());
        let sizes = firmware_sizes::measured(&folds, &events);
        let bisects = self.fold_bisects(&mut tx, &parsed.bisect_events).await?;
        let workers = worker_changes::rows_of(&parsed.worker_events);
        let writes = self.queue_writes(&mut tx, &folds, &counted_before).await?;
        let changes = BatchChanges {
            rows: &writes.rows,
            counts: &writes.counts,
            durations: &durations,
            history: &history,
            sizes: &sizes,
            bisects: &bisects,
            workers: &workers,
            boards: &parsed.board_events,
        };
        let figures = self
            .commit_events(tx, writes.status_files, changes, last_seq)
            .await?;
        if let Some(files) = &mut self.rebuild_files {
            files.end_batch()?;
        }
        self.auto_quarantine(&figures, last_seq).await;
        Ok(last_seq)
    }

    /// What a batch writes for its queues: their rows, their status files
    /// (written before the commit: both derive from the events, so a crash
    /// in between is repaired by replaying the batch) and the counts'
    /// changes; a deleted queue is removed here.
    async fn queue_writes<'f>(
        &mut self,
        tx: &mut sqlx::SqliteConnection,
        folds: &'f [(String, QueueFold)],
        before: &HashMap<String, Counted>,
    ) -> anyhow::Result<QueueWrites<'f>> {
        let mut writes = QueueWrites::default();
        for (id, fold) in folds {
            match fold.write() {
                Write::Delete { seq } => {
                    self.remove_queue(tx, id, seq).await?;
                    writes.counts.replace(before.get(id), None);
                }
                Write::Save {
                    view,
                    submitted_seq,
                    updated_seq,
                    status_changed,
                } => {
                    writes
                        .counts
                        .replace(before.get(id), Some(&Counted::of(view)));
                    writes
                        .status_files
                        .extend(self.status_file(id, view, status_changed)?);
                    writes.rows.push(store::SaveRow {
                        view,
                        submitted_seq,
                        updated_seq,
                        view_json: serde_json::to_string(view)?,
                    });
                }
                Write::Nothing => {}
            }
        }
        Ok(writes)
    }

    /// Folds the batch's bisect events over the stored bisects they name
    /// (pure, in `bisect_projection`): the rows to write with the batch.
    async fn fold_bisects(
        &self,
        tx: &mut sqlx::SqliteConnection,
        events: &[(u64, BisectEvent)],
    ) -> anyhow::Result<Vec<(String, bisect_projection::BisectWrite)>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = events
            .iter()
            .map(|(_, e)| e.bisect_id.to_string())
            .collect();
        ids.sort();
        ids.dedup();
        let stored = bisect_store::load(tx, &ids).await?;
        Ok(bisect_projection::fold_batch(stored, events))
    }

    /// Publishes the quarantines `--auto-quarantine` decides after a
    /// committed batch. Best effort: one that fails is asked again at the
    /// test's next run. The message id makes a repeat within the stream's
    /// duplicate window a no-op.
    async fn auto_quarantine(&mut self, figures: &[(TestKey, WindowFigures)], seq: u64) {
        let Some(auto) = &mut self.auto_quarantine else {
            return;
        };
        let js = jetstream::new(self.client.clone());
        for event in auto.decide(figures, &self.history) {
            let subject = self.names.test_event_subject(event.body.kind());
            let id = format!(
                "auto-quarantine:{}:{seq}",
                serde_json::to_string(&event.test).unwrap_or_default()
            );
            let publish = jetstream::message::PublishMessage::build()
                .payload(event.to_json().into())
                .message_id(id);
            let stored = match js.send_publish(subject, publish).await {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match stored {
                Ok(()) => tracing::info!(
                    task = event.test.task(),
                    case = event.test.case(),
                    "auto-quarantined a flaky test"
                ),
                Err(error) => {
                    tracing::warn!(%error, task = event.test.task(), "could not publish an auto-quarantine")
                }
            }
        }
    }

    /// Removes a queue this batch deleted: its folder (by the writer thread
    /// while rebuilding), its row, and what is known of its log file.
    async fn remove_queue(
        &mut self,
        tx: &mut sqlx::SqliteConnection,
        id: &str,
        seq: u64,
    ) -> anyhow::Result<()> {
        if let Some(files) = &mut self.rebuild_files {
            files.pending.remove(id);
            files.writer.remove(id.to_owned());
        } else {
            self.folders
                .remove(id)
                .await
                .with_context(|| format!("removing folder of deleted queue {id}"))?;
        }
        store::delete(tx, id, seq).await?;
        self.log_files.remove(id);
        Ok(())
    }

    /// A changed view's `queue_status.json`, to write with the batch when
    /// its status changed (`event_batch` says why); while rebuilding it
    /// waits for the writer thread instead (`None`).
    fn status_file(
        &mut self,
        id: &str,
        view: &QueueView,
        status_changed: bool,
    ) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        if !status_changed {
            return Ok(None);
        }
        if let Some(files) = &mut self.rebuild_files {
            files
                .pending
                .insert(id.to_owned(), (view.clone(), files.batch));
            return Ok(None);
        }
        Ok(Some((id.to_owned(), QueueFolders::status_json(view)?)))
    }

    /// Writes the status files (on a blocking thread) and the rows with the
    /// events offset (on sqlx's SQLite thread) at the same time; the commit
    /// waits for both.
    async fn commit_events(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
        status_files: Vec<(String, Vec<u8>)>,
        changes: BatchChanges<'_>,
        last_seq: u64,
    ) -> anyhow::Result<Vec<(TestKey, WindowFigures)>> {
        let files = self.folders.write_statuses(status_files);
        let sql = async {
            store::save_many(&mut tx, changes.rows).await?;
            store::save_view_counts(&mut tx, changes.counts).await?;
            store::save_expected_durations(&mut tx, changes.durations).await?;
            store::save_firmware_sizes(&mut tx, changes.sizes).await?;
            bisect_store::save(&mut tx, changes.bisects).await?;
            worker_changes::save(&mut tx, changes.workers).await?;
            board_view::save(&mut tx, changes.boards).await?;
            let figures = store::save_test_history(&mut tx, changes.history).await?;
            store::set_offset(&mut tx, EVENTS_OFFSET, last_seq).await?;
            anyhow::Ok(figures)
        };
        let (files, sql) = tokio::join!(files, sql);
        files.context("writing queue_status.json files")?;
        let figures = sql?;
        tx.commit().await.context("committing an events batch")?;
        Ok(figures)
    }

    /// Applies a batch of log batches: appends each queue's lines to its
    /// `queue_log.txt`, sets the progress they report, and commits the new
    /// log lengths with the offset.
    async fn apply_logs(&mut self, batch: Vec<jetstream::Message>) -> anyhow::Result<u64> {
        let mut tx = self.pool.begin().await?;
        let grouped = group_logs(&batch)?;
        self.apply_progress(&mut tx, grouped.progress).await?;
        let (appends, committed) = self
            .log_appends(&mut tx, grouped.order, grouped.per_queue)
            .await?;
        self.folders
            .append_logs(appends)
            .await
            .context("appending to queue_log.txt files")?;
        store::set_offset(&mut tx, LOGS_OFFSET, grouped.last_seq).await?;
        tx.commit().await.context("committing a logs batch")?;
        for (id, length, attempts) in committed {
            self.log_files.insert(id.clone(), length);
            self.log_attempts.insert(id, attempts);
        }
        Ok(grouped.last_seq)
    }

    /// Each queue's text to append, in `order`, and its log file's length
    /// (bytes, lines) and newest attempts after it, set in `tx`. A queue's
    /// first append since `follow` began cuts its file back to the
    /// committed length; a deleted queue's lines are dropped, and so are an
    /// older attempt's after a newer one's ([`LogAttempts`]).
    async fn log_appends(
        &self,
        tx: &mut sqlx::SqliteConnection,
        order: Vec<String>,
        mut per_queue: HashMap<String, Vec<LogBatch>>,
    ) -> anyhow::Result<(Vec<LogAppend>, Vec<CommittedLog>)> {
        let mut appends = Vec::with_capacity(order.len());
        let mut committed = Vec::with_capacity(order.len());
        for id in order {
            let batches = per_queue.remove(&id).unwrap_or_default();
            let (before, truncate_to, mut attempts) = match self.log_files.get(&id) {
                Some(&before) => {
                    let attempts = self.log_attempts.get(&id).cloned().unwrap_or_default();
                    (before, None, attempts)
                }
                None => {
                    if store::is_deleted(tx, &id).await? {
                        continue;
                    }
                    let before = store::log_file(tx, &id).await?;
                    let attempts = store::log_attempts(tx, &id).await?;
                    (before, Some(before.0), attempts)
                }
            };
            let (text, lines) = render_admitted(&batches, &mut attempts);
            let after = (before.0 + text.len() as u64, before.1 + lines);
            store::set_log_file(tx, &id, after.0, after.1).await?;
            store::set_log_attempts(tx, &id, &attempts).await?;
            committed.push((id.clone(), after, attempts));
            appends.push(LogAppend {
                id,
                text,
                truncate_to,
            });
        }
        Ok((appends, committed))
    }
}

/// A queue's log file after a logs batch: its length (bytes, lines) and
/// the newest attempt of each shard in it.
type CommittedLog = (String, (u64, u64), LogAttempts);

/// The lines of the batches `attempts` admits, rendered as `queue_log.txt`
/// holds them, and how many there are.
fn render_admitted(batches: &[LogBatch], attempts: &mut LogAttempts) -> (Vec<u8>, u64) {
    let (mut text, mut lines) = (Vec::new(), 0);
    for batch in batches.iter().filter(|b| attempts.admit(b)) {
        for line in &batch.lines {
            text.extend_from_slice(line.render(batch.shard).as_bytes());
            lines += 1;
        }
    }
    (text, lines)
}

/// A batch of log batches grouped by queue.
struct GroupedLogs {
    /// The queues, in the order they first appear.
    order: Vec<String>,
    /// Each queue's log batches, in stream order.
    per_queue: HashMap<String, Vec<LogBatch>>,
    /// The progress the lines report, per queue.
    progress: Vec<(String, task_progress::Report)>,
    /// The stream sequence of the batch's last message.
    last_seq: u64,
}

/// Groups the log batches by queue; a malformed one is skipped (and logged).
fn group_logs(batch: &[jetstream::Message]) -> anyhow::Result<GroupedLogs> {
    let mut grouped = GroupedLogs {
        order: Vec::new(),
        per_queue: HashMap::new(),
        progress: Vec::new(),
        last_seq: 0,
    };
    for message in batch {
        grouped.last_seq = stream_sequence(message)?;
        let batch = match LogBatch::from_json(&message.payload) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(seq = grouped.last_seq, subject = %message.subject, error = %e, "skipping malformed log batch");
                continue;
            }
        };
        let id = batch.queue_id.to_string();
        grouped
            .progress
            .extend(task_progress::reports(&batch).map(|r| (id.clone(), r)));
        grouped
            .per_queue
            .entry(id.clone())
            .or_insert_with(|| {
                grouped.order.push(id);
                Vec::new()
            })
            .push(batch);
    }
    Ok(grouped)
}

impl Projector {
    /// Sets the progress the batch's lines report on the views of running
    /// tasks (`task_progress`): the rows, in the logs transaction.
    async fn apply_progress(
        &mut self,
        tx: &mut sqlx::SqliteConnection,
        reports: Vec<(String, task_progress::Report)>,
    ) -> anyhow::Result<()> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<String> = reports.iter().map(|(id, _)| id.clone()).collect();
        ids.dedup();
        let mut stored = store::load_many(tx, &ids).await?;
        let mut changed = Vec::new();
        for (id, report) in &reports {
            if let Some(Stored::View { view, .. }) = stored.get_mut(id) {
                if task_progress::apply(view, report) && !changed.contains(id) {
                    changed.push(id.clone());
                }
            }
        }
        let mut rows = Vec::with_capacity(changed.len());
        for id in changed {
            let Some(Stored::View { view, .. }) = stored.get(&id) else {
                continue;
            };
            rows.push((id.clone(), serde_json::to_string(view)?));
        }
        // Progress never changes a status: `queue_status.json` stays as is
        // (event_batch.rs says why).
        store::update_views(tx, &rows).await?;
        Ok(())
    }
}

async fn ordered(
    js: &jetstream::Context,
    stream: &str,
    start_sequence: u64,
) -> anyhow::Result<pull::Ordered> {
    let stream_handle = js
        .get_stream(stream)
        .await
        .with_context(|| format!("looking up stream {stream}"))?;
    let consumer = stream_handle
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence },
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating an ordered consumer on {stream}"))?;
    consumer
        .messages()
        .await
        .with_context(|| format!("subscribing to {stream}"))
}

type Received = anyhow::Result<jetstream::Message>;

/// Where a stream's messages come from: the ordered consumer itself
/// (following: no extra hop per message), or a task that reads it ahead
/// into a channel (rebuilding: the consumer keeps pulling while a batch is
/// applied, on the other core).
enum Source {
    Direct(Box<pull::Ordered>),
    ReadAhead {
        messages: tokio::sync::mpsc::Receiver<Received>,
        reader: tokio::task::JoinHandle<()>,
    },
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Source::ReadAhead { reader, .. } = self {
            reader.abort();
        }
    }
}

impl Source {
    async fn open(
        js: &jetstream::Context,
        stream: &str,
        start_sequence: u64,
        read_ahead: bool,
    ) -> anyhow::Result<Self> {
        let mut consumer = ordered(js, stream, start_sequence).await?;
        if !read_ahead {
            return Ok(Source::Direct(Box::new(consumer)));
        }
        let (tx, messages) = tokio::sync::mpsc::channel(REBUILD_READ_AHEAD);
        let reader = tokio::spawn(async move {
            while let Some(message) = consumer.next().await {
                let failed = message.is_err();
                if tx.send(message.map_err(anyhow::Error::from)).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Source::ReadAhead { messages, reader })
    }

    /// The next message; cancel-safe, so it can race in `select!`.
    async fn next(&mut self) -> Option<Received> {
        match self {
            Source::Direct(consumer) => consumer
                .next()
                .await
                .map(|m| m.map_err(anyhow::Error::from)),
            Source::ReadAhead { messages, .. } => messages.recv().await,
        }
    }

    /// The first message plus every one already buffered, up to `max`: a
    /// batch grows with the backlog and stays one message when idle. With
    /// `fill`, waits up to that long for more to arrive, unless a message
    /// is `urgent`: then it takes only what is already there.
    async fn drain(
        &mut self,
        first: Option<Received>,
        max: usize,
        fill: Option<Duration>,
        urgent: impl Fn(&jetstream::Message) -> bool,
    ) -> anyhow::Result<Vec<jetstream::Message>> {
        let first = first.context("the stream subscription ended")??;
        let mut deadline = fill
            .filter(|_| !urgent(&first))
            .map(|fill| tokio::time::Instant::now() + fill);
        let mut batch = vec![first];
        while batch.len() < max {
            let next = match self.next().now_or_never() {
                Some(next) => next,
                None => match deadline {
                    Some(deadline) => match tokio::time::timeout_at(deadline, self.next()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    },
                    None => break,
                },
            };
            match next {
                Some(message) => {
                    let message = message?;
                    if urgent(&message) {
                        deadline = None;
                    }
                    batch.push(message);
                }
                None => break,
            }
        }
        Ok(batch)
    }
}

/// An event a client waits to see applied: the gateway answers a submit,
/// cancel, delete or (un)quarantine once the projector has it.
fn awaited_event(message: &jetstream::Message) -> bool {
    matches!(
        message.subject.rsplit('.').next(),
        Some(
            "submitted"
                | "cancel_requested"
                | "deleted"
                | "quarantined"
                | "unquarantined"
                | "requested"
                | "drained"
                | "readmitted"
                | "reserved"
                | "released"
                | "power"
        )
    )
}

/// What a batch writes for its queues (`Projector::queue_writes`).
#[derive(Default)]
struct QueueWrites<'f> {
    status_files: Vec<(String, Vec<u8>)>,
    rows: Vec<store::SaveRow<'f>>,
    counts: CountChanges,
}

/// What one events batch stores besides the status files.
struct BatchChanges<'a> {
    rows: &'a [store::SaveRow<'a>],
    counts: &'a CountChanges,
    durations: &'a [(crate::expected_durations::Key, u64)],
    history: &'a HistoryChanges,
    sizes: &'a [SizeRow],
    bisects: &'a [(String, bisect_projection::BisectWrite)],
    workers: &'a [worker_changes::WorkerChangeRow],
    boards: &'a [(u64, BoardEvent)],
}

/// An events batch, parsed: queue, test, bisect, worker and board events
/// (each with its stream sequence), and the batch's last sequence.
struct ParsedEvents {
    queue_events: Vec<(u64, Event)>,
    test_events: Vec<(u64, TestEvent)>,
    bisect_events: Vec<(u64, BisectEvent)>,
    worker_events: Vec<(u64, WorkerEvent)>,
    board_events: Vec<(u64, BoardEvent)>,
    last_seq: u64,
}

/// Parses a batch by subject. A malformed event is not ours to fix: it is
/// skipped and logged, and the offset still moves past it, so one bad
/// message cannot stop every view.
fn parse_events(names: &ArenaNames, batch: &[jetstream::Message]) -> anyhow::Result<ParsedEvents> {
    let mut parsed = ParsedEvents {
        queue_events: Vec::with_capacity(batch.len()),
        test_events: Vec::new(),
        bisect_events: Vec::new(),
        worker_events: Vec::new(),
        board_events: Vec::new(),
        last_seq: 0,
    };
    for message in batch {
        let seq = stream_sequence(message)?;
        parsed.last_seq = seq;
        let outcome = if names.is_test_event_subject(&message.subject) {
            TestEvent::from_json(&message.payload).map(|e| parsed.test_events.push((seq, e)))
        } else if names.is_bisect_event_subject(&message.subject) {
            BisectEvent::from_json(&message.payload).map(|e| parsed.bisect_events.push((seq, e)))
        } else if names.is_worker_event_subject(&message.subject) {
            WorkerEvent::from_json(&message.payload).map(|e| parsed.worker_events.push((seq, e)))
        } else if names.is_board_event_subject(&message.subject) {
            BoardEvent::from_json(&message.payload).map(|e| parsed.board_events.push((seq, e)))
        } else {
            Event::from_json(&message.payload).map(|e| parsed.queue_events.push((seq, e)))
        };
        if let Err(e) = outcome {
            tracing::error!(seq, subject = %message.subject, error = %e, "skipping malformed event");
        }
    }
    Ok(parsed)
}

fn stream_sequence(message: &jetstream::Message) -> anyhow::Result<u64> {
    Ok(message
        .info()
        .map_err(|e| anyhow::anyhow!("reading message metadata: {e}"))?
        .stream_sequence)
}
