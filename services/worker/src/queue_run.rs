//! Handles one `submitted` message from the shared consumer: decides whether
//! to run it (attempt budget, history), runs it with in-progress acks as a
//! heartbeat, and settles it: `finished` then ack, or a nak to hand it back.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use testarena_events::{ArenaNames, Event, EventBody, FinalStatus, QueueId};
use tracing::Instrument;

use crate::emitter::Emitter;
use crate::git_mirror::GitCache;
use crate::group_ledger::GroupLedger;
use crate::log_batcher;
use crate::metrics::WorkerMetrics;
use crate::pipeline::{EngineSettings, Run, RunEnd};
use crate::profile::Profiles;
use crate::stop_signal::{Registry, StopReason};

/// What every run of this worker shares.
pub(crate) struct Shared {
    pub js: jetstream::Context,
    pub names: ArenaNames,
    pub profiles: Profiles,
    pub git: GitCache,
    pub settings: EngineSettings,
    pub registry: Registry,
    pub worker_name: String,
    pub max_attempts: u32,
    pub ack_wait: Duration,
    pub workspaces: std::path::PathBuf,
    pub metrics: Arc<WorkerMetrics>,
    pub ledger: GroupLedger,
}

pub(crate) async fn handle(message: jetstream::Message, shared: Arc<Shared>) {
    let message = Arc::new(message);
    let (attempt, submitted_seq) = match message.info() {
        Ok(info) => (
            u32::try_from(info.delivered).unwrap_or(u32::MAX),
            info.stream_sequence,
        ),
        Err(e) => {
            tracing::error!(error = %e, "a message without JetStream metadata; dropping it");
            return;
        }
    };
    let event = match Event::from_json(&message.payload) {
        Ok(event) => event,
        Err(e) => {
            tracing::error!(subject = %message.subject, error = %e, "malformed submitted event; acknowledging it so it is not redelivered forever");
            let _ = message.ack().await;
            return;
        }
    };
    let queue_id = event.queue_id.clone();
    let span = tracing::info_span!("queue", queue_id = %queue_id, attempt);
    shared.metrics.busy_slots.inc();
    let outcome = run_message(&message, event, attempt, submitted_seq, &shared)
        .instrument(span)
        .await;
    shared.metrics.busy_slots.dec();
    if let Err(e) = outcome {
        // Not acknowledged: JetStream redelivers it after the ack wait.
        tracing::error!(queue_id = %queue_id, error = %e, "run aborted; the queue will be redelivered");
    }
    shared.registry.unregister(&queue_id);
}

async fn run_message(
    message: &Arc<jetstream::Message>,
    event: Event,
    attempt: u32,
    submitted_seq: u64,
    shared: &Shared,
) -> anyhow::Result<()> {
    let queue_id = event.queue_id.clone();
    let EventBody::Submitted {
        source,
        profile,
        tasks,
    } = event.body
    else {
        tracing::warn!(
            kind = event.body.kind(),
            "not a submitted event; acknowledging it"
        );
        message
            .ack()
            .await
            .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        return Ok(());
    };
    let emitter = Emitter::new(
        shared.js.clone(),
        shared.names.clone(),
        queue_id.clone(),
        attempt,
    );
    if attempt > shared.max_attempts {
        // Every earlier attempt's worker stopped heartbeating before the end.
        emitter
            .emit(EventBody::Finished {
                status: FinalStatus::Error,
                attempt: None,
                reason: Some(format!(
                    "gave up after {} attempts: the worker running it stopped responding each time",
                    shared.max_attempts
                )),
            })
            .await?;
        message
            .double_ack()
            .await
            .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        return Ok(());
    }
    let stop = shared.registry.register(&queue_id);
    emitter
        .emit(EventBody::Started {
            worker: shared.worker_name.clone(),
            attempt,
        })
        .await?;
    tracing::info!(queue_id = %queue_id, attempt, "started");

    // A queue finished by an earlier attempt (that died before its ack), or
    // cancelled or deleted before anyone ran it, is only settled.
    match history(shared, &queue_id).await {
        History::Finished => {
            message
                .double_ack()
                .await
                .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
            return Ok(());
        }
        History::Stopped(reason) => stop.stop(reason),
        History::Fresh => {}
    }

    let heartbeat = {
        let message = message.clone();
        let every = shared.ack_wait / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::warn!(error = %e, "in-progress ack failed");
                }
            }
        })
    };
    let _heartbeat = AbortOnDrop(heartbeat);

    let workspace = shared.workspaces.join(format!("{}-a{}", queue_id, attempt));
    let _ = tokio::fs::remove_dir_all(&workspace).await;
    tokio::fs::create_dir_all(&workspace).await?;
    let (log, batcher) = log_batcher::start(
        shared.js.clone(),
        shared.names.log_subject(&queue_id),
        queue_id.clone(),
        attempt,
        shared.metrics.clone(),
    );

    log.system(
        "worker",
        format!("attempt {attempt} on {}", shared.worker_name),
    )
    .await;

    let end = if stop.token().is_cancelled() {
        RunEnd::Stopped
    } else {
        match shared.profiles.resolve(profile.as_ref()) {
            Err(reason) => {
                log.system("worker", reason.clone()).await;
                RunEnd::Failed(reason)
            }
            Ok(profile) => {
                let run = Run {
                    emitter: &emitter,
                    log: &log,
                    stop: &stop,
                    profile,
                    source: &source,
                    tasks: &tasks,
                    git: &shared.git,
                    settings: &shared.settings,
                    ledger: &shared.ledger,
                    workspace: workspace.clone(),
                    port: free_port()?,
                    submitted_seq,
                    checkout: std::sync::OnceLock::new(),
                };
                run.execute().await?
            }
        }
    };
    // Every line is stored before the queue says it finished.
    drop(log);
    let _ = batcher.await;
    let _ = tokio::fs::remove_dir_all(&workspace).await;

    let (status, reason) = match (&end, stop.reason()) {
        (RunEnd::Stopped, Some(StopReason::Shutdown)) => {
            // Hand it back: another worker (or this one, restarted) runs it.
            message
                .ack_with(AckKind::Nak(None))
                .await
                .map_err(|e| anyhow::anyhow!("nak: {e}"))?;
            tracing::info!(queue_id = %queue_id, "handed back on shutdown");
            return Ok(());
        }
        (RunEnd::Stopped, Some(StopReason::Cancelled(why))) => (FinalStatus::Cancelled, Some(why)),
        (RunEnd::Stopped, Some(StopReason::Deleted)) => {
            (FinalStatus::Cancelled, Some("queue deleted".to_owned()))
        }
        _ => end.final_status(),
    };
    emitter
        .emit(EventBody::Finished {
            status,
            attempt: Some(attempt),
            reason,
        })
        .await?;
    if stop.reason() == Some(StopReason::Deleted) {
        // Lines published after the gateway's purge must go too.
        if let Ok(stream) = shared
            .js
            .get_stream_no_info(&shared.names.logs_stream)
            .await
        {
            let _ = stream
                .purge()
                .filter(shared.names.log_subject(&queue_id))
                .await;
        }
    }
    message
        .double_ack()
        .await
        .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
    tracing::info!(queue_id = %queue_id, ?status, "finished");
    Ok(())
}

enum History {
    Fresh,
    Finished,
    Stopped(StopReason),
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
        async move { stream.direct_get_last_for_subject(subject).await.ok() }
    };
    let (finished, cancelled, deleted) =
        tokio::join!(last("finished"), last("cancel_requested"), last("deleted"));
    if finished.is_some() {
        History::Finished
    } else if deleted.is_some() {
        History::Stopped(StopReason::Deleted)
    } else if cancelled.is_some() {
        History::Stopped(StopReason::Cancelled("cancelled by a user".into()))
    } else {
        History::Fresh
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
