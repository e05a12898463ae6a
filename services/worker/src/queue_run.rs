//! Handles one `dispatched` message from this worker's consumer: reads the
//! queue's `submitted` event, asks
//! delivery.rs whether to run it (attempt budget, history), runs it with
//! in-progress acks as a heartbeat, and settles it as delivery.rs decides:
//! `finished` then ack, a nak to hand it back, or nothing (redelivered).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind};
use testarena_events::{
    ArenaNames, Event, EventBody, FinalStatus, ProfileName, QueueId, Source, TaskId, TaskSpec,
};
use tracing::Instrument;

use crate::artifact_upload::ArtifactSink;
use crate::boot_health::BootHealth;
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
use crate::profile::Profiles;
use crate::publish::{PublishError, Publisher};
use crate::stop_signal::{Registry, StopSignal};
use crate::workspace_pool::WorkspacePool;

/// What every run of this worker shares.
pub(crate) struct Shared {
    pub js: jetstream::Context,
    pub names: ArenaNames,
    pub profiles: Profiles,
    pub git: GitCache,
    pub build_cache: BuildCache,
    /// `CCACHE_DIR` of this worker's `ccache = true` builds.
    pub ccache_dir: std::path::PathBuf,
    pub settings: EngineSettings,
    pub registry: Registry,
    pub worker_name: String,
    pub max_attempts: u32,
    pub ack_wait: Duration,
    pub workspaces: std::path::PathBuf,
    pub metrics: Arc<WorkerMetrics>,
    pub ledger: GroupLedger,
    pub presence: Presence,
    pub boot_health: Arc<BootHealth>,
}

impl Shared {
    /// The emitter of one run; its publishes retry for `ack_wait` (publish.rs).
    fn emitter(&self, queue_id: &QueueId, attempt: u32, stop: StopSignal) -> Emitter {
        let publisher = Publisher::new(self.js.clone(), self.ack_wait, stop);
        Emitter::new(publisher, self.names.clone(), queue_id.clone(), attempt)
    }
}

pub(crate) async fn handle(message: jetstream::Message, shared: Arc<Shared>) {
    let message = Arc::new(message);
    let (delivered, dispatch_seq) = match message.info() {
        Ok(info) => (
            u32::try_from(info.delivered).unwrap_or(u32::MAX),
            info.stream_sequence,
        ),
        Err(e) => {
            tracing::error!(error = %e, "a message without JetStream metadata; dropping it");
            return;
        }
    };
    let dispatch = match Event::from_json(&message.payload) {
        Ok(event) => event,
        Err(e) => {
            tracing::error!(subject = %message.subject, error = %e, "malformed dispatched event; acknowledging it so it is not redelivered forever");
            let _ = message.ack().await;
            return;
        }
    };
    let EventBody::Dispatched {
        attempt_base,
        submitted_seq,
        ..
    } = dispatch.body
    else {
        tracing::warn!(
            kind = dispatch.body.kind(),
            "not a dispatched event; acknowledging it"
        );
        let _ = message.ack().await;
        return;
    };
    let queue_id = dispatch.queue_id;
    let attempt = attempt_base.saturating_add(delivered);
    let span = tracing::info_span!("queue", queue_id = %queue_id, attempt);
    shared.metrics.busy_slots.inc();
    shared.presence.slot_taken();
    let outcome = async {
        let (submission, latest) = tokio::join!(
            submission(&shared, &queue_id),
            latest_dispatch(&shared, &queue_id)
        );
        if latest? != dispatch_seq {
            // Given again after this worker was presumed gone: that
            // dispatch's run is the queue's, not this redelivery.
            tracing::info!("superseded by a later dispatch; acknowledging");
            return ack(&message).await;
        }
        let submission = submission?;
        let run = Delivered {
            queue_id: queue_id.clone(),
            attempt,
            submitted_seq,
        };
        run_message(&message, run, submission, &shared).await
    }
    .instrument(span)
    .await;
    shared.presence.slot_freed();
    shared.metrics.busy_slots.dec();
    if let Err(e) = outcome {
        // Not acknowledged: JetStream redelivers it after the ack wait.
        tracing::error!(queue_id = %queue_id, error = %e, "run abandoned; the queue will be redelivered");
    }
    shared.registry.unregister(&queue_id);
}

/// Which queue a delivery is, and which run of it.
struct Delivered {
    queue_id: QueueId,
    attempt: u32,
    /// Where the queue's `submitted` event is in the stream (the mirror's
    /// freshness is measured against it).
    submitted_seq: u64,
}

/// What the queue's `submitted` event asked for.
struct Submission {
    source: Source,
    profile: Option<ProfileName>,
    tasks: Vec<TaskSpec>,
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
            ..
        } => Ok(Submission {
            source,
            profile,
            tasks,
        }),
        other => anyhow::bail!(
            "the queue's submitted subject holds a {} event",
            other.kind()
        ),
    }
}

async fn run_message(
    message: &Arc<jetstream::Message>,
    delivered: Delivered,
    submission: Submission,
    shared: &Shared,
) -> anyhow::Result<()> {
    let Delivered {
        queue_id,
        attempt,
        submitted_seq,
    } = delivered;
    let Submission {
        source,
        profile,
        tasks,
    } = submission;
    let stop = match decide_delivery(attempt, shared.max_attempts) {
        Delivery::GiveUp(reason) => {
            let emitter = shared.emitter(&queue_id, attempt, StopSignal::default());
            return give_up(message, &emitter, reason).await;
        }
        Delivery::Run => shared.registry.register(&queue_id),
    };
    let emitter = shared.emitter(&queue_id, attempt, stop.clone());
    emitter
        .send(EventBody::Started {
            worker: shared.worker_name.clone(),
            attempt,
        })
        .await?;
    tracing::info!("started");

    // A queue finished by an earlier attempt (that died before its ack), or
    // cancelled or deleted before anyone ran it, is only settled.
    match history(shared, &queue_id).await {
        History::Finished => return ack(message).await,
        History::Stopped(reason) => stop.stop(reason),
        History::Fresh => {}
    }
    let queue = QueueRun {
        emitter: &emitter,
        stop: &stop,
        shared,
        submitted_seq,
    };
    let _heartbeat = heartbeat(message.clone(), shared.ack_wait);
    let (end, log) = queue.run(&source, profile.as_ref(), &tasks).await;
    let end = end?;
    let settle = settle_run(&end, stop.reason().as_ref(), &log);
    queue.settle(message, settle).await
}

/// The last delivery of a queue no attempt settled: it ends in `Error`.
async fn give_up(
    message: &jetstream::Message,
    emitter: &Emitter,
    reason: String,
) -> anyhow::Result<()> {
    emitter
        .emit(EventBody::Finished {
            status: FinalStatus::Error,
            attempt: None,
            reason: Some(reason),
        })
        .await?;
    ack(message).await
}

/// In-progress acks every third of `ack_wait`, until the returned guard drops.
fn heartbeat(message: Arc<jetstream::Message>, ack_wait: Duration) -> AbortOnDrop {
    let every = ack_wait / 3;
    AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = message.ack_with(AckKind::Progress).await {
                tracing::warn!(error = %e, "in-progress ack failed");
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
}

impl QueueRun<'_> {
    /// Runs the pipeline in a fresh workspace with its own log batcher.
    /// Returns how the run ended and, once every line was published (or
    /// could not be), how the log went; lines are stored before the queue
    /// says it finished.
    async fn run(
        &self,
        source: &Source,
        profile: Option<&ProfileName>,
        tasks: &[TaskSpec],
    ) -> (anyhow::Result<RunEnd>, Result<u64, PublishError>) {
        let (queue_id, attempt) = (&self.emitter.queue_id, self.emitter.attempt);
        let workspace = self
            .shared
            .workspaces
            .join(format!("{queue_id}-a{attempt}"));
        let task_ids = tasks.iter().map(|t| t.id.clone()).collect();
        if let Err(e) = self.workspace(Take(workspace.clone(), task_ids)).await {
            let e = anyhow::Error::new(e).context(format!("creating {}", workspace.display()));
            return (Err(e), Ok(0));
        }
        let (log, batcher) = log_batcher::start(
            BatchTarget {
                publisher: self.emitter.publisher().clone(),
                subject: self.shared.names.log_subject(queue_id),
                queue_id: queue_id.clone(),
                attempt,
                stop: self.stop.clone(),
            },
            self.shared.metrics.clone(),
        );
        log.system("worker", attempt_line(attempt, &self.shared.worker_name))
            .await;
        let end = self
            .pipeline(&log, &workspace, source, profile, tasks)
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
        source: &Source,
        profile: Option<&ProfileName>,
        tasks: &[TaskSpec],
    ) -> anyhow::Result<RunEnd> {
        if self.stop.token().is_cancelled() {
            return Ok(RunEnd::Stopped);
        }
        let profile = match self.shared.profiles.resolve(profile) {
            Ok(profile) => profile,
            Err(reason) => {
                log.system("worker", reason.clone()).await;
                return Ok(RunEnd::Failed(reason));
            }
        };
        let run = Run {
            emitter: self.emitter,
            log,
            stop: self.stop,
            profile,
            source,
            tasks,
            git: &self.shared.git,
            build_cache: &self.shared.build_cache,
            ccache_dir: &self.shared.ccache_dir,
            settings: &self.shared.settings,
            ledger: &self.shared.ledger,
            boot_health: &self.shared.boot_health,
            workspace: workspace.to_owned(),
            port: free_port().context("finding a free port for {port}")?,
            submitted_seq: self.submitted_seq,
            checkout: std::sync::OnceLock::new(),
            artifacts: ArtifactSink::new(
                self.shared.js.clone(),
                self.shared.names.clone(),
                self.shared.settings.artifact_caps,
                self.stop.clone(),
            ),
        };
        Ok(run.execute().await?)
    }

    /// Does what [`settle_run`] decided.
    async fn settle(&self, message: &jetstream::Message, settle: Settle) -> anyhow::Result<()> {
        match settle {
            Settle::Abandon(reason) => Err(anyhow::anyhow!(reason)),
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
