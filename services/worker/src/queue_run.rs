//! Handles one `dispatched` message from this worker's consumer: reads the
//! queue's `submitted` event, asks
//! delivery.rs whether to run it (a live run of it here, attempt budget,
//! history), runs it with in-progress acks as a heartbeat, and settles it
//! as delivery.rs decides: `finished` then ack, a nak to hand it back, or
//! nothing (redelivered, or superseded by another attempt: supersession.rs).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind};
use testarena_events::{
    ArenaNames, BoardName, Event, EventBody, FinalStatus, GitRef, ProfileName, QueueId, Source,
    TaskId, TaskSpec,
};
use tracing::Instrument;

use crate::artifact_upload::ArtifactSink;
use crate::boards::BoardHold;
use crate::boot_health::BootHealth;
use crate::build_bucket::BuildBucket;
use crate::build_cache_store::BuildCache;
use crate::delivery::{
    attempt_line, decide_delivery, read_history, settle_run, Delivery, History, Settle,
};
use crate::emitter::Emitter;
use crate::git_mirror::GitCache;
use crate::group_ledger::GroupLedger;
use crate::log_batcher::{self, BatchTarget, LogSink};
use crate::metrics::WorkerMetrics;
use crate::pipeline::{EngineSettings, Run, RunEnd};
use crate::presence::Presence;
use crate::profile::{Profile, Profiles};
use crate::publish::{PublishError, Publisher};
use crate::shard_progress::{claim_sequence, ShardProgress};
use crate::stop_signal::{Pulse, Registration, Registry, StopReason, StopSignal};
use crate::supersession::{later_dispatch, RunIdentity, Supersession};
use crate::task_claims::{finish_queue_once, read_progress, SharedTasks};
use crate::workspace_pool::WorkspacePool;

/// What every run of this worker shares.
pub(crate) struct Shared {
    pub js: jetstream::Context,
    pub names: ArenaNames,
    pub profiles: Profiles,
    pub git: GitCache,
    pub build_cache: BuildCache,
    pub build_bucket: Option<BuildBucket>,
    /// `CCACHE_DIR` of this worker's `ccache = true` builds.
    pub ccache_dir: std::path::PathBuf,
    pub settings: EngineSettings,
    pub registry: Registry,
    pub worker_name: String,
    pub max_attempts: u32,
    pub ack_wait: Duration,
    /// The registry heartbeat: how often a run checks it still holds its queue.
    pub heartbeat: Duration,
    pub workspaces: std::path::PathBuf,
    pub metrics: Arc<WorkerMetrics>,
    pub ledger: GroupLedger,
    pub presence: Presence,
    pub boot_health: Arc<BootHealth>,
    pub boards: Arc<crate::boards::Boards>,
}

impl Shared {
    /// The emitter of one run; its publishes retry for `ack_wait` (publish.rs)
    /// and, with `supersession`, stop once another attempt holds the queue.
    fn emitter(
        &self,
        run: &Delivered,
        stop: StopSignal,
        supersession: Option<Supersession>,
    ) -> Emitter {
        let mut publisher = Publisher::new(self.js.clone(), self.ack_wait, stop);
        if let Some(supersession) = supersession {
            publisher = publisher.watched_by(supersession);
        }
        Emitter::new(
            publisher,
            self.names.clone(),
            run.queue_id.clone(),
            run.attempt,
        )
        .for_shard(run.shard)
    }
}

pub(crate) async fn handle(message: jetstream::Message, shared: Arc<Shared>) {
    let message = Arc::new(message);
    let Some(dispatch) = read_dispatch(&message).await else {
        return;
    };
    let queue_id = dispatch.queue_id.clone();
    let span = tracing::info_span!("queue", queue_id = %queue_id, attempt = dispatch.attempt);
    let held = shared
        .registry
        .held(&queue_id, dispatch.shard, dispatch.seq);
    let delivery = decide_delivery(dispatch.attempt, shared.max_attempts, held, shared.ack_wait);
    if delivery == Delivery::KeepRunning {
        return keep_running(&message).instrument(span).await;
    }
    // A board profile's queue runs on its board, not in a slot.
    let in_slot = dispatch.board.is_none();
    shared.metrics.busy_slots.inc();
    if in_slot {
        shared.presence.slot_taken();
    }
    // Registered before anything is read: a cancel or delete that comes
    // while the queue's events are read is then seen by the read or by the
    // control listener (control.rs), never by neither.
    let registration = shared
        .registry
        .register(&queue_id, dispatch.shard, dispatch.seq);
    let outcome = run_dispatch(&message, (dispatch, delivery), &registration, &shared)
        .instrument(span)
        .await;
    drop(registration);
    if in_slot {
        shared.presence.slot_freed();
    }
    shared.metrics.busy_slots.dec();
    if let Err(e) = outcome {
        // Not acknowledged: JetStream redelivers it after the ack wait.
        tracing::error!(queue_id = %queue_id, error = %e, "run abandoned; the queue will be redelivered");
    }
}

/// JetStream delivered again a dispatch whose run here goes on (its
/// consumer's leader moved and knew an older state): that run keeps the
/// queue, its heartbeat and its settling; this delivery only says the
/// message is in progress. A later redelivery comes here again.
async fn keep_running(message: &jetstream::Message) {
    match message.ack_with(AckKind::Progress).await {
        Ok(()) => tracing::info!("delivered again while its run here goes on; kept that run"),
        Err(e) => tracing::warn!(error = %e, "kept the run here; this in-progress ack failed"),
    }
}

/// A `dispatched` message as this worker's consumer delivered it.
struct Dispatch {
    queue_id: QueueId,
    /// The shard the dispatch names (`None`: the queue is not sharded).
    shard: Option<u8>,
    /// This delivery's attempt: the dispatch's base plus how many times
    /// JetStream has delivered it.
    attempt: u32,
    /// The dispatch's own stream sequence.
    seq: u64,
    /// Where the queue's `submitted` event is in the stream.
    submitted_seq: u64,
    /// The board the scheduler leased it.
    board: Option<BoardName>,
}

/// The delivered message's `dispatched` event. A message without JetStream
/// metadata is dropped; one that is malformed or not a dispatch is
/// acknowledged, so it is not redelivered forever. Either way: `None`.
async fn read_dispatch(message: &jetstream::Message) -> Option<Dispatch> {
    let (delivered, dispatch_seq) = match message.info() {
        Ok(info) => (
            u32::try_from(info.delivered).unwrap_or(u32::MAX),
            info.stream_sequence,
        ),
        Err(e) => {
            tracing::error!(error = %e, "a message without JetStream metadata; dropping it");
            return None;
        }
    };
    let dispatch = match Event::from_json(&message.payload) {
        Ok(event) => event,
        Err(e) => {
            tracing::error!(subject = %message.subject, error = %e, "malformed dispatched event; acknowledging it so it is not redelivered forever");
            let _ = message.ack().await;
            return None;
        }
    };
    let EventBody::Dispatched {
        attempt_base,
        submitted_seq,
        board,
        ..
    } = dispatch.body
    else {
        tracing::warn!(
            kind = dispatch.body.kind(),
            "not a dispatched event; acknowledging it"
        );
        let _ = message.ack().await;
        return None;
    };
    Some(Dispatch {
        queue_id: dispatch.queue_id,
        shard: dispatch.shard,
        attempt: attempt_base.saturating_add(delivered),
        seq: dispatch_seq,
        submitted_seq,
        board,
    })
}

/// Reads what the queue asked for, whether a later dispatch superseded this
/// one (then it is only acknowledged) and its history, and runs it.
async fn run_dispatch(
    message: &Arc<jetstream::Message>,
    (dispatch, delivery): (Dispatch, Delivery),
    registration: &Registration,
    shared: &Shared,
) -> anyhow::Result<()> {
    let queue_id = &dispatch.queue_id;
    let shard = dispatch.shard.unwrap_or(0);
    let (submission, latest, history) = tokio::join!(
        submission(shared, queue_id),
        latest_dispatch(shared, queue_id),
        history(shared, queue_id)
    );
    let submission = submission?;
    let sharded = submission.shards > 1;
    let superseded = latest? != dispatch.seq
        && (!sharded || later_dispatch_of(shared, queue_id, shard, dispatch.seq).await?);
    if superseded {
        // Given again after this worker was presumed gone: that
        // dispatch's run is the queue's (shard's), not this redelivery.
        tracing::info!("superseded by a later dispatch; acknowledging");
        return ack(message).await;
    }
    let run = Delivered {
        queue_id: dispatch.queue_id,
        attempt: dispatch.attempt,
        submitted_seq: dispatch.submitted_seq,
        shard: sharded.then_some(shard),
        dispatch_seq: dispatch.seq,
        board: dispatch.board,
    };
    let stop = (registration.signal(), registration.pulse());
    run_message(
        message,
        (run, delivery),
        (submission, history),
        stop,
        shared,
    )
    .await
}

/// Which queue a delivery is, and which run of it.
struct Delivered {
    queue_id: QueueId,
    attempt: u32,
    /// Where the queue's `submitted` event is in the stream (the mirror's
    /// freshness is measured against it).
    submitted_seq: u64,
    /// Which shard of a sharded queue; `None` when it is not sharded.
    shard: Option<u8>,
    /// The stream sequence of the `dispatched` event delivered.
    dispatch_seq: u64,
    board: Option<BoardName>,
}

impl Delivered {
    /// The run's emitter, whose publishes stop once another attempt took
    /// the queue over, and that watch (supersession.rs), ended on drop.
    fn watched_emitter(&self, shared: &Shared, stop: &StopSignal) -> (Emitter, AbortOnDrop) {
        let run = RunIdentity {
            queue_id: self.queue_id.clone(),
            shard: self.shard,
            attempt: self.attempt,
            dispatch_seq: self.dispatch_seq,
        };
        let (js, names) = (shared.js.clone(), shared.names.clone());
        let supersession = Supersession::new(js, names, run, shared.heartbeat, stop.clone());
        let watch = AbortOnDrop(supersession.watch());
        (
            shared.emitter(self, stop.clone(), Some(supersession)),
            watch,
        )
    }
}

/// What the queue's `submitted` event asked for.
struct Submission {
    source: Source,
    profile: Option<ProfileName>,
    tasks: Vec<TaskSpec>,
    shards: u8,
    claim_order: Vec<u16>,
}

/// Whether the queue has a dispatch of `shard` after `after`: this
/// delivery of it was superseded. A sharded queue's dispatches go to its
/// shards in turn, so the last one may be another shard's.
async fn later_dispatch_of(
    shared: &Shared,
    queue_id: &QueueId,
    shard: u8,
    after: u64,
) -> anyhow::Result<bool> {
    let stream = shared
        .js
        .get_stream_no_info(&shared.names.events_stream)
        .await
        .context("opening the events stream")?;
    let filter = shared.names.queue_dispatches_filter(queue_id);
    let later = later_dispatch(&stream, &filter, Some(shard), after).await?;
    Ok(later.is_some())
}

/// The stream sequence of the queue's last `dispatched` event, to any worker.
async fn latest_dispatch(shared: &Shared, queue_id: &QueueId) -> anyhow::Result<u64> {
    let stream = shared
        .js
        .get_stream_no_info(&shared.names.events_stream)
        .await
        .context("opening the events stream")?;
    let last = stream
        .direct_get_last_for_subject(shared.names.queue_dispatches_filter(queue_id))
        .await
        .context("reading the queue's last dispatch")?;
    Ok(last.sequence)
}

/// The queue's `submitted` event, read with a direct get: the dispatch
/// carries only where it is.
async fn submission(shared: &Shared, queue_id: &QueueId) -> anyhow::Result<Submission> {
    let stream = shared
        .js
        .get_stream_no_info(&shared.names.events_stream)
        .await
        .context("opening the events stream")?;
    let stored = stream
        .direct_get_last_for_subject(shared.names.event_subject(queue_id, "submitted"))
        .await
        .context("reading the queue's submitted event")?;
    let event = Event::from_json(&stored.payload).context("parsing the queue's submitted event")?;
    match event.body {
        EventBody::Submitted {
            source,
            profile,
            tasks,
            shards,
            claim_order,
            ..
        } => Ok(Submission {
            source,
            profile,
            tasks,
            shards,
            claim_order,
        }),
        other => anyhow::bail!(
            "the queue's submitted subject holds a {} event",
            other.kind()
        ),
    }
}

async fn run_message(
    message: &Arc<jetstream::Message>,
    (delivered, delivery): (Delivered, Delivery),
    (submission, history): (Submission, History),
    (stop, pulse): (&StopSignal, Pulse),
    shared: &Shared,
) -> anyhow::Result<()> {
    if let Delivery::GiveUp(reason) = delivery {
        let emitter = shared.emitter(&delivered, StopSignal::default(), None);
        return give_up(message, &emitter, shared, reason).await;
    }
    // A queue finished by an earlier attempt (that died before its ack), or
    // cancelled or deleted before anyone ran it, is only settled.
    match history {
        History::Finished => return ack(message).await,
        History::Stopped(reason) => stop.stop(reason),
        History::Fresh => {}
    }
    let (emitter, _watch) = delivered.watched_emitter(shared, stop);
    emitter
        .send(EventBody::Started {
            worker: shared.worker_name.clone(),
            attempt: delivered.attempt,
        })
        .await?;
    tracing::info!("started");
    let queue = QueueRun {
        emitter: &emitter,
        stop,
        shared,
        submitted_seq: delivered.submitted_seq,
        board: delivered.board.clone(),
    };
    let _heartbeat = heartbeat(message.clone(), shared.ack_wait, pulse);
    let Some(shard) = delivered.shard else {
        let (end, log) = queue.run(&submission, None).await;
        let settle = settle_run(&run_end(end, stop)?, stop.reason().as_ref(), &log);
        return queue.settle(message, settle).await;
    };
    let progress = read_progress(&shared.js, &shared.names, &delivered.queue_id).await?;
    let mut submission = submission;
    let resume = progress.to_resume(shard, delivered.attempt, &submission.tasks);
    let nothing_left = resume.is_empty() && !progress.has_unclaimed(&submission.tasks);
    if nothing_left && !stop.token().is_cancelled() {
        return leave_early(message, &emitter, shared, &progress, &submission).await;
    }
    pin_commit(&mut submission.source, &progress)?;
    let order = claim_sequence(&submission.claim_order, submission.tasks.len());
    let shared_tasks = SharedTasks::new(
        shared.js.clone(),
        shared.names.clone(),
        delivered.queue_id.clone(),
        (shard, delivered.attempt),
        order,
        resume,
    );
    let (end, log) = queue.run(&submission, Some(shared_tasks)).await;
    let settle = settle_run(&run_end(end, stop)?, stop.reason().as_ref(), &log);
    queue.settle_shard(message, settle, &submission.tasks).await
}

/// How the run ended: a superseded run whose publishes were refused
/// (supersession.rs) stopped, and that is no error of the run.
fn run_end(end: anyhow::Result<RunEnd>, stop: &StopSignal) -> anyhow::Result<RunEnd> {
    match end {
        Err(_) if matches!(stop.reason(), Some(StopReason::Superseded(_))) => Ok(RunEnd::Stopped),
        end => end,
    }
}

/// Every shard runs the commit the queue's first checkout resolved: a
/// branch that moved since is not split between two commits.
fn pin_commit(source: &mut Source, progress: &ShardProgress) -> anyhow::Result<()> {
    if let Some(commit) = progress.commit() {
        source.git_ref = GitRef::parse(commit).context("the queue's checked-out commit")?;
    }
    Ok(())
}

/// A shard with no task left to claim says so without checking out; when
/// every task is finished (the shard that finished last died before saying
/// so), it ends the queue.
async fn leave_early(
    message: &jetstream::Message,
    emitter: &Emitter,
    shared: &Shared,
    progress: &ShardProgress,
    submission: &Submission,
) -> anyhow::Result<()> {
    tracing::info!("no task left for this shard");
    let ending = progress
        .all_finished(&submission.tasks)
        .then_some((FinalStatus::Finished, None));
    end_shard(emitter, shared, ending).await?;
    ack(message).await
}

/// A shard says it ended (`shard_finished`); with `ending`, the queue ends
/// too, unless another shard ended it first.
async fn end_shard(
    emitter: &Emitter,
    shared: &Shared,
    ending: Option<(FinalStatus, Option<String>)>,
) -> anyhow::Result<()> {
    emitter
        .emit(EventBody::ShardFinished {
            attempt: emitter.attempt,
        })
        .await?;
    if let Some((status, reason)) = ending {
        let (js, names, queue_id) = (&shared.js, &shared.names, &emitter.queue_id);
        if finish_queue_once(js, names, queue_id, status, reason).await? {
            tracing::info!(?status, "finished the sharded queue");
        }
    }
    Ok(())
}

/// The last delivery of a queue no attempt settled: it ends in `Error`.
async fn give_up(
    message: &jetstream::Message,
    emitter: &Emitter,
    shared: &Shared,
    reason: String,
) -> anyhow::Result<()> {
    if emitter.shard.is_some() {
        let queue_id = &emitter.queue_id;
        let status = FinalStatus::Error;
        finish_queue_once(&shared.js, &shared.names, queue_id, status, Some(reason)).await?;
    } else {
        emitter
            .emit(EventBody::Finished {
                status: FinalStatus::Error,
                attempt: None,
                reason: Some(reason),
            })
            .await?;
    }
    ack(message).await
}

/// In-progress acks every third of `ack_wait`, until the returned guard
/// drops; each one sent is a beat of the run's `pulse` (a redelivery of its
/// dispatch finds the run alive: delivery.rs).
fn heartbeat(message: Arc<jetstream::Message>, ack_wait: Duration, pulse: Pulse) -> AbortOnDrop {
    let every = ack_wait / 3;
    AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match message.ack_with(AckKind::Progress).await {
                Ok(()) => pulse.beat(),
                Err(e) => tracing::warn!(error = %e, "in-progress ack failed"),
            }
        }
    }))
}

/// One run of a queue this worker holds.
struct QueueRun<'a> {
    emitter: &'a Emitter,
    stop: &'a StopSignal,
    shared: &'a Shared,
    submitted_seq: u64,
    board: Option<BoardName>,
}

impl QueueRun<'_> {
    /// Runs the pipeline in a fresh workspace with its own log batcher.
    /// Returns how the run ended and, once every line was published (or
    /// could not be), how the log went; lines are stored before the queue
    /// says it finished.
    async fn run(
        &self,
        submission: &Submission,
        shared_tasks: Option<SharedTasks>,
    ) -> (anyhow::Result<RunEnd>, Result<u64, PublishError>) {
        let (queue_id, attempt) = (&self.emitter.queue_id, self.emitter.attempt);
        let shard = self
            .emitter
            .shard
            .map(|s| format!("-s{s}"))
            .unwrap_or_default();
        let workspace = self
            .shared
            .workspaces
            .join(format!("{queue_id}{shard}-a{attempt}"));
        let (log, batcher) = log_batcher::start(
            BatchTarget {
                publisher: self.emitter.publisher().clone(),
                subject: self.shared.names.log_subject(queue_id),
                queue_id: queue_id.clone(),
                attempt,
                shard: self.emitter.shard,
                stop: self.stop.clone(),
            },
            self.shared.metrics.clone(),
        );
        log.system("worker", attempt_line(attempt, &self.shared.worker_name))
            .await;
        let end = self
            .pipeline(&log, &workspace, submission, shared_tasks)
            .await;
        if let Some(line) = self.stop.reason().and_then(|r| r.final_line()) {
            log.system("worker", line).await;
        }
        drop(log);
        let log = batcher.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the log batcher panicked");
            Err(PublishError::RunLost("the log batcher panicked".into()))
        });
        let _ = self.workspace(GiveBack(workspace)).await;
        (end, log)
    }

    /// One hop to the blocking pool for a step of the run's folder.
    async fn workspace(&self, step: WorkspaceStep) -> std::io::Result<()> {
        let pool = WorkspacePool::new(self.shared.workspaces.clone());
        tokio::task::spawn_blocking(move || match step {
            Take(dir, tasks) => pool.take(&dir, &tasks),
            GiveBack(dir) => {
                pool.give_back(&dir);
                Ok(())
            }
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The profile's stages, unless the queue was stopped before it began
    /// or names a profile this worker does not have.
    async fn pipeline(
        &self,
        log: &LogSink,
        workspace: &std::path::Path,
        submission: &Submission,
        shared_tasks: Option<SharedTasks>,
    ) -> anyhow::Result<RunEnd> {
        // Made beside the checkout.
        let task_ids = submission.tasks.iter().map(|t| t.id.clone()).collect();
        let ready = async {
            let taken = self.workspace(Take(workspace.to_owned(), task_ids)).await;
            taken.map_err(|e| format!("creating the run's folder {}: {e}", workspace.display()))
        };
        if self.stop.token().is_cancelled() {
            return Ok(RunEnd::Stopped);
        }
        let (profile, hold) = match self.profile_and_board(submission) {
            Ok(resolved) => resolved,
            Err(reason) => {
                log.system("worker", reason.clone()).await;
                return Ok(RunEnd::Failed(reason));
            }
        };
        let board = hold.as_ref().map(|h| h.board());
        // A board's `{port}` is its console's bridge.
        let port = board.map_or_else(free_port, |b| Ok(b.console.bridge_port));
        let run = Run {
            emitter: self.emitter,
            log,
            stop: self.stop,
            profile,
            source: &submission.source,
            tasks: &submission.tasks,
            git: &self.shared.git,
            build_cache: &self.shared.build_cache,
            build_bucket: self.shared.build_bucket.as_ref(),
            ccache_dir: &self.shared.ccache_dir,
            settings: &self.shared.settings,
            ledger: &self.shared.ledger,
            boot_health: &self.shared.boot_health,
            board,
            workspace: workspace.to_owned(),
            port: port.context("finding a free port for {port}")?,
            submitted_seq: self.submitted_seq,
            checkout: std::sync::OnceLock::new(),
            missing_scenarios: std::sync::OnceLock::new(),
            artifacts: ArtifactSink::new(
                self.shared.js.clone(),
                self.shared.names.clone(),
                self.shared.settings.artifact_caps,
                self.stop.clone(),
            ),
            shared_tasks,
        };
        let end = run.execute(ready).await;
        if let Some(checkout) = run.checkout.into_inner() {
            self.shared.git.release(checkout).await;
        }
        Ok(end?)
    }

    /// The queue's profile and, for a board profile, its board held.
    fn profile_and_board(
        &self,
        submission: &Submission,
    ) -> Result<(&Profile, Option<BoardHold>), String> {
        let profile = self.shared.profiles.resolve(submission.profile.as_ref())?;
        Ok((profile, self.hold_board(profile)?))
    }

    /// The board a board profile's queue runs on, held for this run; why
    /// not, as the queue's infrastructure error.
    fn hold_board(&self, profile: &Profile) -> Result<Option<BoardHold>, String> {
        let decided = board_for(profile, self.board.as_ref(), |name| {
            self.shared.boards.get(name).is_some()
        })?;
        let Some(name) = decided else {
            return Ok(None);
        };
        let board = self.shared.boards.get(name).expect("board_for checked it");
        board.hold(&self.emitter.queue_id).map(Some)
    }

    /// Does what [`settle_run`] decided.
    async fn settle(&self, message: &jetstream::Message, settle: Settle) -> anyhow::Result<()> {
        match settle {
            Settle::Abandon(reason) => Err(anyhow::anyhow!(reason)),
            Settle::Superseded => {
                // Its dispatch stays unacknowledged: JetStream redelivers
                // it here, and that delivery, superseded, is acknowledged.
                tracing::info!("superseded by another attempt: stopped without settling the queue");
                Ok(())
            }
            Settle::Leave => ack(message).await,
            Settle::HandBack => {
                // Another worker (or this one, restarted) runs it.
                message
                    .ack_with(AckKind::Nak(None))
                    .await
                    .map_err(|e| anyhow::anyhow!("nak: {e}"))?;
                tracing::info!("handed back on shutdown");
                Ok(())
            }
            Settle::Finish {
                status,
                reason,
                purge_logs,
            } => {
                self.emitter
                    .emit(EventBody::Finished {
                        status,
                        attempt: Some(self.emitter.attempt),
                        reason,
                    })
                    .await?;
                if purge_logs {
                    self.purge_logs().await;
                }
                ack(message).await?;
                tracing::info!(?status, "finished");
                Ok(())
            }
        }
    }

    /// Settles one shard of a sharded queue: the shard says it ended; a
    /// shard that stopped the queue (cancel, delete, a failed stage) or
    /// that sees every task finished ends the queue, the first one only.
    async fn settle_shard(
        &self,
        message: &jetstream::Message,
        settle: Settle,
        tasks: &[TaskSpec],
    ) -> anyhow::Result<()> {
        let (status, reason, purge_logs) = match settle {
            Settle::Abandon(_) | Settle::HandBack | Settle::Superseded => {
                return self.settle(message, settle).await
            }
            Settle::Leave => (None, None, false),
            Settle::Finish {
                status,
                reason,
                purge_logs,
            } => (Some(status), reason, purge_logs),
        };
        let ending = match status {
            None => None,
            Some(FinalStatus::Finished) => {
                // Every task result this shard sent is stored before the
                // stream is read for whether all are in.
                self.emitter.stored().await?;
                let (js, names, queue_id) =
                    (&self.shared.js, &self.shared.names, &self.emitter.queue_id);
                let done = read_progress(js, names, queue_id)
                    .await?
                    .all_finished(tasks);
                done.then_some((FinalStatus::Finished, reason))
            }
            Some(status) => Some((status, reason)),
        };
        end_shard(self.emitter, self.shared, ending).await?;
        if purge_logs {
            self.purge_logs().await;
        }
        ack(message).await
    }

    /// Removes a deleted queue's log lines published after the gateway's purge.
    async fn purge_logs(&self) {
        let names = &self.shared.names;
        if let Ok(stream) = self.shared.js.get_stream_no_info(&names.logs_stream).await {
            let _ = stream
                .purge()
                .filter(names.log_subject(&self.emitter.queue_id))
                .await;
        }
    }
}

async fn ack(message: &jetstream::Message) -> anyhow::Result<()> {
    message
        .double_ack()
        .await
        .map_err(|e| anyhow::anyhow!("ack: {e}"))
}

async fn history(shared: &Shared, queue_id: &QueueId) -> History {
    let Ok(stream) = shared
        .js
        .get_stream_no_info(&shared.names.events_stream)
        .await
    else {
        return History::Fresh;
    };
    let last = |kind: &'static str| {
        let stream = stream.clone();
        let subject = shared.names.event_subject(queue_id, kind);
        async move { stream.direct_get_last_for_subject(subject).await.is_ok() }
    };
    let (finished, cancelled, deleted) =
        tokio::join!(last("finished"), last("cancel_requested"), last("deleted"));
    read_history(finished, cancelled, deleted)
}

/// What a run does with its folder (workspace_pool.rs).
enum WorkspaceStep {
    /// Make it, with an empty result folder per task.
    Take(std::path::PathBuf, Vec<TaskId>),
    /// The run ended: recycle it.
    GiveBack(std::path::PathBuf),
}
use WorkspaceStep::{GiveBack, Take};

/// Pure: the board a queue of `profile` runs on, given the board its
/// dispatch named; an error when they do not go together or this worker
/// has no such board.
fn board_for<'a>(
    profile: &Profile,
    leased: Option<&'a BoardName>,
    has: impl Fn(&BoardName) -> bool,
) -> Result<Option<&'a BoardName>, String> {
    match (profile.board, leased) {
        (false, None) => Ok(None),
        (false, Some(board)) => Err(format!(
            "the dispatch leased board {board}, but profile {} runs without a board",
            profile.name
        )),
        (true, None) => Err(format!(
            "profile {} runs on a board, but the dispatch leased none",
            profile.name
        )),
        (true, Some(board)) if has(board) => Ok(Some(board)),
        (true, Some(board)) => Err(format!(
            "the dispatch leased board {board}, which this worker does not have"
        )),
    }
}

/// A free loopback port for the queue's `{port}`.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_board_profile_runs_on_the_board_its_dispatch_leased_and_this_worker_has() {
        let config = "[boards.b1]\nserial={tcp='127.0.0.1:7001'}\n[profiles.fw]\nboard=true\ntask='x'\n[profiles.plain]\ntask='x'\n";
        let profiles = Profiles::parse(config).unwrap();
        let get = |n: &str| {
            profiles
                .resolve(Some(&ProfileName::parse(n).unwrap()))
                .unwrap()
        };
        let (fw, plain) = (get("fw"), get("plain"));
        let b1 = BoardName::parse("b1").unwrap();
        let b9 = BoardName::parse("b9").unwrap();
        let has = |b: &BoardName| b.as_str() == "b1";
        assert_eq!(board_for(fw, Some(&b1), has), Ok(Some(&b1)));
        assert_eq!(board_for(plain, None, has), Ok(None));
        let unknown = board_for(fw, Some(&b9), has).unwrap_err();
        assert_eq!(
            unknown,
            "the dispatch leased board b9, which this worker does not have"
        );
        assert!(board_for(fw, None, has)
            .unwrap_err()
            .contains("leased none"));
        assert!(board_for(plain, Some(&b1), has)
            .unwrap_err()
            .contains("runs without a board"));
    }
}
