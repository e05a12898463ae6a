//! The scheduler: decides which worker runs what, and drives bisects. It
//! folds the events stream and the worker registry into pure decisions
//! (`dispatch/plan.rs`, `bisect/search.rs`) and publishes them as events.
//! It serves no HTTP: the gateway asks it about waiting queues over NATS
//! (`waiting_answer.rs`).
//!
//! Several may run at once: every act is conditional
//! (`Nats-Expected-Last-Subject-Sequence`, derived ids, message ids), so
//! two never dispatch a queue twice nor queue a bisect step twice.

mod bisect;
mod dispatch;
mod waiting_answer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use testarena_events::{ArenaNames, EventLog};
use testarena_views::AppliedWatch;
use tokio_util::sync::CancellationToken;

use crate::bisect::driver::BisectIo;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub names: ArenaNames,
    /// The projector's SQLite views, which the bisect driver reads.
    pub db_path: PathBuf,
    /// The projector whose views these are (its applied sequence is
    /// announced under this name).
    pub projector_name: String,
    /// JetStream request timeout: how fast a publish fails with NATS down.
    pub nats_timeout: Duration,
    /// Where the bisect driver keeps its bare git mirrors (one per repository).
    pub bisect_mirrors: PathBuf,
}

/// Runs the dispatcher, the bisect driver and the waiting answer until
/// `shutdown`.
pub async fn run(
    client: async_nats::Client,
    config: SchedulerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(config.nats_timeout);
    let events = EventLog::new(client.clone(), js.clone(), config.names.clone());
    let (dispatcher, dispatch_task) =
        dispatch::Dispatcher::start(js.clone(), events.clone(), shutdown.clone());
    let answer_task =
        waiting_answer::start(client.clone(), &config.names, dispatcher, shutdown.clone())
            .await
            .context("answering the gateway's waiting requests")?;
    let (views, applied, watch_task) = AppliedWatch::open_views(
        &client,
        config.names.applied_subject(&config.projector_name),
        &config.db_path,
        shutdown.clone(),
    )
    .await
    .context("subscribing to the projector's applied sequence")?;
    let io = Arc::new(BisectIo {
        events,
        views,
        applied,
    });
    let bisect_task = bisect::driver::start(io, config.bisect_mirrors, shutdown.clone());
    tracing::info!("scheduler running");
    shutdown.cancelled().await;
    for task in [dispatch_task, answer_task, watch_task, bisect_task] {
        task.abort();
        let _ = task.await;
    }
    Ok(())
}
