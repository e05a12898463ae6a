//! The worker: takes `submitted` events from the durable pull consumer that
//! every worker process shares (JetStream hands each message to one of
//! them), runs the queue through its profile's stages, and publishes stage,
//! task and finished events plus log batches.

mod cache_eviction;
mod cache_layout;
mod command_env;
mod control;
mod delivery;
mod emitter;
mod git_local;
mod git_mirror;
mod group_ledger;
mod junit;
mod log_batcher;
mod metrics;
mod metrics_server;
mod outcome;
mod output_lines;
mod pipeline;
mod placeholders;
mod process_group;
mod profile;
mod publish;
mod queue_run;
mod stop_signal;
mod stream_position;
mod workers_consumer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use futures_util::StreamExt;
use testarena_events::{await_streams, ArenaNames, StreamLimits};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use command_env::CommandEnv;
pub use group_ledger::run_reaper;
pub use metrics::WorkerMetrics;
pub use metrics_server::serve_metrics;
pub use pipeline::EngineSettings;
pub use profile::Profiles;
pub use workers_consumer::{consumer_config, ensure_consumer};

use crate::git_mirror::GitCache;
use crate::group_ledger::GroupLedger;
use crate::queue_run::Shared;
use crate::stop_signal::{Registry, StopReason};
use crate::stream_position::StreamPosition;

/// How often the mirror cache is swept for unused mirrors.
const EVICTION_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub names: ArenaNames,
    pub limits: StreamLimits,
    /// Shown in `started` events and the view.
    pub worker_name: String,
    pub profiles: Profiles,
    /// Mirrors and per-queue workspaces live here.
    pub work_dir: PathBuf,
    /// Queues this process runs at once.
    pub concurrency: usize,
    /// Without an in-progress ack for this long, a queue is redelivered.
    pub ack_wait: Duration,
    /// Runs of one queue before it ends in `Error`.
    pub max_attempts: u32,
    /// On shutdown, how long running queues may take before being handed back.
    pub shutdown_grace: Duration,
    /// Mirrors no queue used for this long are removed; `None` keeps them.
    pub cache_max_age: Option<Duration>,
    pub engine: EngineSettings,
    /// How to start the process-group reaper (group_ledger.rs): the
    /// program and its leading arguments; empty runs without one.
    pub reaper_command: Vec<std::ffi::OsString>,
    /// Shared with whoever serves `/metrics` (the worker's own server or the
    /// gateway under `testarena up`).
    pub metrics: Arc<WorkerMetrics>,
}

pub async fn run(
    client: async_nats::Client,
    config: WorkerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let js = jetstream::new(client.clone());
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        _ = await_streams(&js, &config.names, &config.limits) => {}
    }
    let stream = js
        .get_stream(&config.names.events_stream)
        .await
        .context("looking up the events stream")?;
    let consumer = workers_consumer::open_consumer(
        &stream,
        consumer_config(&config.names, config.ack_wait, config.max_attempts),
    )
    .await?;

    let ledger = GroupLedger::start(
        &config.work_dir.join("process-groups"),
        &config.reaper_command,
    )?;
    let registry = Registry::default();
    let shared = Arc::new(Shared {
        js: js.clone(),
        names: config.names.clone(),
        profiles: config.profiles.clone(),
        git: GitCache::new(
            &config.work_dir.join("cache"),
            StreamPosition::new(js.clone(), config.names.events_stream.clone()),
        ),
        settings: config.engine.clone(),
        registry: registry.clone(),
        worker_name: config.worker_name.clone(),
        max_attempts: config.max_attempts,
        ack_wait: config.ack_wait,
        workspaces: config.work_dir.join("workspaces"),
        metrics: config.metrics.clone(),
        ledger,
    });
    config.metrics.slots.set(config.concurrency as i64);

    let mut tasks = JoinSet::new();
    if let Some(max_age) = config.cache_max_age {
        let shared = shared.clone();
        tasks.spawn(async move {
            loop {
                match shared.git.evict_unused(max_age).await {
                    Ok(evicted) if !evicted.is_empty() => {
                        tracing::info!(?evicted, "removed mirrors no queue used for {max_age:?}");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cleaning the mirror cache failed"),
                }
                tokio::time::sleep(EVICTION_EVERY).await;
            }
        });
    }
    {
        let (client, names, registry, shutdown) = (
            client.clone(),
            config.names.clone(),
            registry.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            if let Err(e) = control::listen(client, names, registry, shutdown).await {
                tracing::error!(error = %e, "cancel/delete listener failed");
            }
        });
    }

    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut runs = JoinSet::new();
    tracing::info!(worker = %config.worker_name, concurrency = config.concurrency, "worker taking queues");
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.expect("semaphore never closes"),
        };
        // One message per free slot, so nothing waits in this process while
        // its ack timer runs.
        let mut batch = match consumer
            .batch()
            .max_messages(1)
            .expires(Duration::from_secs(5))
            .messages()
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "pulling from the consumer failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = batch.next() => next,
        };
        match next {
            Some(Ok(message)) => {
                let shared = shared.clone();
                runs.spawn(async move {
                    queue_run::handle(message, shared).await;
                    drop(permit);
                });
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "pull request failed; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None => {}
        }
        while runs.try_join_next().is_some() {}
    }

    // Shutdown: stop taking work; let running queues finish within the
    // grace period, then hand the rest back.
    tracing::info!(running = registry.busy(), "worker shutting down");
    if tokio::time::timeout(config.shutdown_grace, async {
        while runs.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        registry.stop_all(StopReason::Shutdown);
        while runs.join_next().await.is_some() {}
    }
    tasks.shutdown().await;
    Ok(())
}
