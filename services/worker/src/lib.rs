//! The worker: announces itself in the registry bucket (presence.rs), takes
//! the queues the scheduler's dispatcher gives it from its own durable pull
//! consumer, runs each through its profile's stages, and publishes stage,
//! task and finished events plus log batches.

mod artifact_caps;
mod artifact_files;
mod artifact_upload;
mod blocking;
mod board_commands;
mod board_console;
mod board_health;
mod boards;
mod boards_config;
mod boot_health;
mod build_archive;
mod build_bucket;
mod build_cache;
mod build_cache_store;
mod build_claims;
mod build_sharing;
mod cache_eviction;
mod cache_layout;
mod ccache;
mod command_env;
mod commit_context;
mod console_cases;
mod console_lines;
mod control;
mod delivery;
mod disk_space;
mod dispatch_consumer;
mod emitter;
mod firmware_size;
mod git_local;
mod git_mirror;
mod group_ledger;
mod health_check;
mod junit;
mod line_marks;
mod log_batcher;
mod metrics;
mod metrics_server;
mod open_repos;
mod operator_requests;
mod outcome;
mod output_lines;
mod pipeline;
mod placeholders;
mod plain_command;
mod presence;
mod process_group;
mod profile;
mod publish;
mod queue_run;
mod scenario_check;
mod serial_port;
mod shard_progress;
mod stop_signal;
mod stream_position;
mod supersession;
mod task_cases;
mod task_claims;
mod task_lines;
mod worker_events;
mod workspace_pool;
mod worktree_lease;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use async_nats::jetstream::consumer::PullConsumer;
use futures_util::StreamExt;
use testarena_events::{await_streams, ArenaNames, StreamLimits, WorkerRecord};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use artifact_caps::ArtifactCaps;
pub use ccache::Ccache;
pub use command_env::CommandEnv;
pub use dispatch_consumer::consumer_config;
pub use group_ledger::run_reaper;
pub use metrics::WorkerMetrics;
pub use metrics_server::serve_metrics;
pub use pipeline::EngineSettings;
pub use profile::Profiles;

use crate::boards::{Boards, BoardsSetup};
use crate::boot_health::BootHealth;
use crate::build_bucket::BuildBucket;
use crate::build_cache_store::BuildCache;
use crate::git_mirror::GitCache;
use crate::group_ledger::GroupLedger;
use crate::health_check::HealthCheck;
use crate::presence::Presence;
use crate::queue_run::Shared;
use crate::stop_signal::{Registry, StopReason};
use crate::stream_position::StreamPosition;
use crate::worker_events::WorkerEvents;

/// How often the mirror cache is swept for unused mirrors.
const EVICTION_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub names: ArenaNames,
    pub limits: StreamLimits,
    /// Shown in `started` events and the view; made a subject token (other
    /// characters become `_`) it is the worker's id in the registry.
    pub worker_name: String,
    /// How often the worker puts its record in the registry.
    pub heartbeat: Duration,
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
    let presence = Presence::new(own_record(&config));
    let Some(consumer) = open_dispatch_consumer(&js, &config, &presence.id(), &shutdown).await?
    else {
        return Ok(());
    };
    let bucket = js
        .get_key_value(config.names.fleet_bucket())
        .await
        .context("opening the registry bucket")?;
    let (worker_events, recorded) = WorkerEvents::channel();
    let mut housekeeping = JoinSet::new();
    let own = (presence.clone(), worker_events);
    let shared = shared_state(js, (&client, &config), own, &mut housekeeping, &shutdown).await?;
    let shared = Arc::new(shared);
    config.metrics.slots.set(config.concurrency as i64);
    housekeeping.spawn(worker_events::publish(
        shared.js.clone(),
        config.names.clone(),
        recorded,
        shutdown.clone(),
    ));
    spawn_housekeeping(&mut housekeeping, &client, &config, &shared, &shutdown);
    // Outlives `shutdown` until the runs are over: a record deleted while
    // queues still run would have them given to another worker.
    let leave = CancellationToken::new();
    let announcing = tokio::spawn({
        let (presence, leave) = (presence.clone(), leave.clone());
        async move { presence.publish(bucket, leave).await }
    });

    // Before any queue: a board left on by a worker killed mid-queue is
    // off, so the next queue's power_on is a power cycle.
    shared.boards.power_off_all().await;
    tracing::info!(worker = %presence.id(), concurrency = config.concurrency, "worker taking queues");
    // A board profile's queues run on boards, not slots: one per board.
    let runs = take_queues(
        &consumer,
        &shared,
        config.concurrency + config.profiles.boards().len(),
        &shutdown,
    )
    .await;

    tracing::info!(running = shared.registry.busy(), "worker shutting down");
    presence.drain();
    drain_runs(runs, &shared.registry, config.shutdown_grace).await;
    leave.cancel();
    let _ = announcing.await;
    housekeeping.shutdown().await;
    Ok(())
}

/// What this worker offers, as the registry shows it.
fn own_record(config: &WorkerConfig) -> WorkerRecord {
    WorkerRecord {
        id: worker_id(&config.worker_name),
        host: std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        profiles: config.profiles.names().cloned().collect(),
        default_profile: config.profiles.default_profile().cloned(),
        labels: config.profiles.labels().to_vec(),
        slots: u32::try_from(config.concurrency).unwrap_or(u32::MAX),
        busy: 0,
        state: Default::default(),
        last_seen_ms: 0,
        heartbeat_ms: u64::try_from(config.heartbeat.as_millis()).unwrap_or(u64::MAX),
        left_ms: None,
        boards: config
            .profiles
            .boards()
            .iter()
            .map(boards::record_of)
            .collect(),
        board_profiles: config
            .profiles
            .all()
            .filter(|p| p.board)
            .map(|p| p.name.clone())
            .collect(),
    }
}

/// The boards' consoles and health check, owned by `tasks`.
async fn start_boards(
    client: &async_nats::Client,
    config: &WorkerConfig,
    (presence, events, ledger): (&Presence, &WorkerEvents, &GroupLedger),
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<Boards>> {
    // One interval for every board: the shortest of the board profiles'.
    let health_interval = config
        .profiles
        .all()
        .filter(|p| p.board)
        .map(|p| p.health.interval)
        .min()
        .unwrap_or(Duration::from_secs(300));
    let setup = BoardsSetup {
        configs: config.profiles.boards().to_vec(),
        client: client.clone(),
        names: config.names.clone(),
        presence: presence.clone(),
        events: events.clone(),
        env: config.engine.command_env.clone(),
        ledger: ledger.clone(),
        work_dir: config.work_dir.clone(),
    };
    let boards = Arc::new(
        Boards::start(setup, tasks, shutdown)
            .await
            .context("starting the boards' consoles")?,
    );
    if !boards.is_empty() {
        tasks.spawn(
            boards
                .clone()
                .watch_health(health_interval, shutdown.clone()),
        );
    }
    Ok(boards)
}

/// The worker's name as a subject token: at most 64 of `[A-Za-z0-9_-]`.
pub fn worker_id(name: &str) -> String {
    let id: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "worker".into()
    } else {
        id
    }
}

/// Waits for the streams (an admin makes them), then opens this worker's
/// consumer; `None` when shutdown came first.
async fn open_dispatch_consumer(
    js: &jetstream::Context,
    config: &WorkerConfig,
    worker_id: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<PullConsumer>> {
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(None),
        _ = await_streams(js, &config.names, &config.limits) => {}
    }
    let stream = js
        .get_stream(&config.names.events_stream)
        .await
        .context("looking up the events stream")?;
    let consumer = dispatch_consumer::open_consumer(
        &stream,
        consumer_config(
            &config.names,
            worker_id,
            config.ack_wait,
            config.max_attempts,
        ),
    )
    .await?;
    Ok(Some(consumer))
}

/// What every run shares; the boards' tasks go to `tasks`.
async fn shared_state(
    js: jetstream::Context,
    (client, config): (&async_nats::Client, &WorkerConfig),
    (presence, worker_events): (Presence, WorkerEvents),
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Shared> {
    let cache_dir = std::path::absolute(config.work_dir.join("cache"))?;
    let ledger = GroupLedger::start(
        &config.work_dir.join("process-groups"),
        &config.reaper_command,
    )?;
    let own = (&presence, &worker_events, &ledger);
    let boards = start_boards(client, config, own, tasks, shutdown).await?;
    Ok(Shared {
        boards,
        git: GitCache::new(
            &config.work_dir.join("cache"),
            StreamPosition::new(js.clone(), config.names.events_stream.clone()),
        ),
        build_cache: BuildCache::new(&cache_dir, config.engine.build_cache_max_bytes),
        build_bucket: BuildBucket::new(
            js.clone(),
            &config.names,
            config.engine.build_bucket_max_bytes,
        ),
        ccache_dir: cache_layout::ccache_dir(&cache_dir),
        js,
        names: config.names.clone(),
        profiles: config.profiles.clone(),
        settings: config.engine.clone(),
        registry: Registry::default(),
        worker_name: config.worker_name.clone(),
        max_attempts: config.max_attempts,
        ack_wait: config.ack_wait,
        heartbeat: config.heartbeat,
        workspaces: config.work_dir.join("workspaces"),
        metrics: config.metrics.clone(),
        ledger,
        boot_health: Arc::new(BootHealth::new(presence.clone(), worker_events)),
        presence,
    })
}

/// Mirrors unused for `max_age` (`None` keeps them), and build cache
/// entries past their age or the size bound.
async fn sweep_caches(shared: &Shared, max_age: Option<Duration>) {
    if let Some(max_age) = max_age {
        match shared.git.evict_unused(max_age).await {
            Ok(evicted) if !evicted.is_empty() => {
                tracing::info!(?evicted, "removed mirrors no queue used for {max_age:?}");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cleaning the mirror cache failed"),
        }
    }
    match shared.build_cache.evict(max_age).await {
        Ok(evicted) if !evicted.is_empty() => {
            tracing::info!(?evicted, "removed build cache entries (age or size)");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cleaning the build cache failed"),
    }
}

/// The cache sweep and the cancel/delete listener, owned by `tasks`.
fn spawn_housekeeping(
    tasks: &mut JoinSet<()>,
    client: &async_nats::Client,
    config: &WorkerConfig,
    shared: &Arc<Shared>,
    shutdown: &CancellationToken,
) {
    let (shared_cache, max_age) = (shared.clone(), config.cache_max_age);
    tasks.spawn(async move {
        loop {
            sweep_caches(&shared_cache, max_age).await;
            tokio::time::sleep(EVICTION_EVERY).await;
        }
    });
    let (client, names, registry, shutdown) = (
        client.clone(),
        config.names.clone(),
        shared.registry.clone(),
        shutdown.clone(),
    );
    tasks.spawn({
        let (client, names, shutdown) = (client.clone(), names.clone(), shutdown.clone());
        async move {
            if let Err(e) = control::listen(client, names, registry, shutdown).await {
                tracing::error!(error = %e, "cancel/delete listener failed");
            }
        }
    });
    for profile in config.profiles.all().filter(|p| p.health.command.is_some()) {
        let check = HealthCheck {
            boot_health: shared.boot_health.clone(),
            command_env: config.engine.command_env.clone(),
            ledger: shared.ledger.clone(),
            work_dir: config.work_dir.clone(),
        };
        let (profile, shutdown) = (profile.clone(), shutdown.clone());
        tasks.spawn(async move { check.watch(profile, shutdown).await });
    }
    let (presence, boot_health) = (shared.presence.clone(), shared.boot_health.clone());
    let boards = shared.boards.clone();
    tasks.spawn(async move {
        if let Err(e) =
            operator_requests::listen(client, names, presence, boot_health, boards, shutdown).await
        {
            tracing::error!(error = %e, "drain/readmit listener failed");
        }
    });
}

/// What one pull gave.
#[expect(
    clippy::large_enum_variant,
    reason = "one value per pull, moved once: boxing would only add an allocation"
)]
enum Pulled {
    Message(jetstream::Message),
    Nothing,
    Shutdown,
}

/// Takes one message per free slot until shutdown, each run in the
/// returned set.
async fn take_queues(
    consumer: &PullConsumer,
    shared: &Arc<Shared>,
    concurrency: usize,
    shutdown: &CancellationToken,
) -> JoinSet<()> {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut runs = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.expect("semaphore never closes"),
        };
        match pull_one(consumer, shutdown).await {
            Pulled::Message(message) => {
                let shared = shared.clone();
                runs.spawn(async move {
                    queue_run::handle(message, shared).await;
                    drop(permit);
                });
            }
            Pulled::Nothing => {}
            Pulled::Shutdown => break,
        }
        while runs.try_join_next().is_some() {}
    }
    runs
}

/// One message, so nothing waits in this process while its ack timer runs.
/// Errors are logged and retried after a pause.
async fn pull_one(consumer: &PullConsumer, shutdown: &CancellationToken) -> Pulled {
    let batch = consumer
        .batch()
        .max_messages(1)
        .expires(Duration::from_secs(5))
        .messages()
        .await;
    let mut batch = match batch {
        Ok(batch) => batch,
        Err(e) => {
            tracing::warn!(error = %e, "pulling from the consumer failed; retrying");
            return pause(Duration::from_millis(500), shutdown).await;
        }
    };
    let next = tokio::select! {
        _ = shutdown.cancelled() => return Pulled::Shutdown,
        next = batch.next() => next,
    };
    match next {
        Some(Ok(message)) => Pulled::Message(message),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "pull request failed; retrying");
            pause(Duration::from_millis(100), shutdown).await
        }
        None => Pulled::Nothing,
    }
}

async fn pause(length: Duration, shutdown: &CancellationToken) -> Pulled {
    tokio::select! {
        _ = shutdown.cancelled() => Pulled::Shutdown,
        _ = tokio::time::sleep(length) => Pulled::Nothing,
    }
}

/// Running queues get `grace` to finish; the rest are handed back.
async fn drain_runs(mut runs: JoinSet<()>, registry: &Registry, grace: Duration) {
    let finished =
        tokio::time::timeout(grace, async { while runs.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        registry.stop_all(StopReason::Shutdown);
        while runs.join_next().await.is_some() {}
    }
}
