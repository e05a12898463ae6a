//! The `testarena` command line: service subcommands (`up`, `gateway`,
//! `scheduler`, `worker`, `projector`, `notifier`) and client subcommands
//! that speak the HTTP API.

mod client;
pub mod service_args;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use self::service_args::{
    GatewayArgs, NatsArgs, ProjectorArgs, SchedulerArgs, StreamArgs, ViewArgs, WorkerArgs,
};
use crate::stack::{self, UpOptions};

#[derive(Debug, Parser)]
#[command(
    name = "testarena",
    version,
    about = "Firmware test queues over NATS JetStream"
)]
struct Cli {
    /// `text` or `json` (service logs, on stderr).
    #[arg(
        long,
        global = true,
        env = "TESTARENA_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of `Up` beside the others costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything in one process with a private nats-server.
    Up(UpOptions),
    /// Create or update the streams and the workers' consumer: the admin
    /// step before services with least-privilege NATS users start.
    Init {
        #[command(flatten)]
        nats: NatsArgs,
        #[command(flatten)]
        streams: StreamArgs,
    },
    /// Run the HTTP gateway.
    Gateway {
        #[command(flatten)]
        nats: NatsArgs,
        #[command(flatten)]
        streams: StreamArgs,
        #[command(flatten)]
        views: ViewArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        /// The gateway config file: `[[repos]]` whose hooks start queues.
        #[arg(long = "config", env = "TESTARENA_GATEWAY_CONFIG")]
        gateway_config: Option<PathBuf>,
    },
    /// Run the scheduler: the dispatcher (which worker runs which queue:
    /// routing, priority, fair share) and the bisect driver. Several may
    /// run at once.
    Scheduler {
        #[command(flatten)]
        nats: NatsArgs,
        #[command(flatten)]
        streams: StreamArgs,
        #[command(flatten)]
        views: ViewArgs,
        #[command(flatten)]
        scheduler: SchedulerArgs,
    },
    /// Run the notifier: commit statuses and `[[notify]]` webhooks and
    /// Slack messages, from its durable consumer of the events stream.
    Notifier {
        #[command(flatten)]
        nats: NatsArgs,
        /// The gateway config file: `[[repos]]` with `status`, `[[notify]]`.
        #[arg(long, env = "TESTARENA_GATEWAY_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        streams: StreamArgs,
        #[command(flatten)]
        views: ViewArgs,
        #[command(flatten)]
        notifier: service_args::NotifierArgs,
    },
    /// Run a worker.
    Worker {
        #[command(flatten)]
        nats: NatsArgs,
        /// The worker's TOML config with its profiles (see docs/profiles.md).
        #[arg(long, env = "TESTARENA_WORKER_CONFIG")]
        config: PathBuf,
        /// Data folder; the worker keeps mirrors and workspaces under it.
        #[arg(long, env = "TESTARENA_DATA_DIR", default_value = "testarena-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        streams: StreamArgs,
        #[command(flatten)]
        worker: WorkerArgs,
    },
    /// Run the projector (the only writer of the views).
    Projector {
        #[command(flatten)]
        nats: NatsArgs,
        #[command(flatten)]
        streams: StreamArgs,
        #[command(flatten)]
        views: ViewArgs,
        #[command(flatten)]
        projector: ProjectorArgs,
    },
    /// Internal: started by a worker; kills the process groups the worker
    /// leaves when it dies (see docs/operations.md).
    #[command(hide = true)]
    ReapProcessGroups {
        #[arg(long)]
        ledger: PathBuf,
    },
    #[command(flatten)]
    Client(client::ClientCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Command::Client(command) => return client::run(command),
        Command::ReapProcessGroups { ledger } => {
            return match testarena_worker::run_reaper(&ledger) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        command => command,
    };
    crate::secret_scrub::scrub_process();
    crate::heap_memory::limit_arenas();
    crate::telemetry::init(cli.log_format == "json");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Threads of the blocking pool (file and git work) that sat idle
        // this long exit, and their stacks leave the idle footprint.
        .thread_keep_alive(crate::heap_memory::IDLE_THREAD_KEEP_ALIVE)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_service(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_service(command: Command) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    tokio::spawn(crate::heap_memory::run(shutdown.clone()));
    match command {
        Command::Up(options) => stack::up(options, shutdown).await,
        Command::Init { nats, streams } => run_init(nats, streams).await,
        Command::Gateway {
            nats,
            streams,
            views,
            gateway,
            gateway_config,
        } => run_gateway(nats, streams, views, (gateway, gateway_config), shutdown).await,
        Command::Scheduler {
            nats,
            streams,
            views,
            scheduler,
        } => {
            let config = scheduler.config(&streams, &views)?;
            let client = nats.connect(&nats.url(), "scheduler").await?;
            testarena_scheduler::run(client, config, shutdown).await
        }
        Command::Notifier {
            nats,
            config,
            streams,
            views,
            notifier,
        } => {
            let integrations = service_args::gateway_file(config.as_deref())?;
            let config = notifier.config(&streams, &views, integrations, None)?;
            let client = nats.connect(&nats.url(), "notifier").await?;
            testarena_notifier::run(client, config, shutdown).await
        }
        Command::Worker {
            nats,
            config,
            data_dir,
            streams,
            worker,
        } => run_worker(nats, config, data_dir, streams, worker, shutdown).await,
        Command::Projector {
            nats,
            streams,
            views,
            projector,
        } => run_projector(nats, streams, views, projector, shutdown).await,
        Command::Client(_) | Command::ReapProcessGroups { .. } => {
            unreachable!("handled before the runtime starts")
        }
    }
}

async fn run_init(nats: NatsArgs, streams: StreamArgs) -> anyhow::Result<()> {
    let client = nats.connect(&nats.url(), "init").await?;
    let names = streams.names()?;
    crate::init::init(client, &names, &streams.limits()).await?;
    println!(
        "ready: streams {} and {}, bucket {}",
        names.events_stream,
        names.logs_stream,
        names.fleet_bucket()
    );
    Ok(())
}

async fn run_gateway(
    nats: NatsArgs,
    streams: StreamArgs,
    views: ViewArgs,
    (gateway, gateway_file): (GatewayArgs, Option<PathBuf>),
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut config = gateway.config(&streams, &views)?;
    config.gateway_file = service_args::gateway_file(gateway_file.as_deref())?;
    let client = nats.connect(&nats.url(), "gateway").await?;
    let bound = testarena_gateway::bind(config).await?;
    if let Some(addr) = bound.local_addr() {
        tracing::info!("gateway listening on http://{addr}");
    }
    bound.serve(client, shutdown).await
}

async fn run_worker(
    nats: NatsArgs,
    config: PathBuf,
    data_dir: PathBuf,
    streams: StreamArgs,
    worker: WorkerArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let profiles = testarena_worker::Profiles::load(&config)?;
    let config = worker.config(&streams, profiles, &data_dir)?;
    let client = nats.connect(&nats.url(), "worker").await?;
    let metrics = worker.metrics_listen.clone().map(|listen| {
        tokio::spawn(testarena_worker::serve_metrics(
            listen,
            config.metrics.clone(),
            shutdown.clone(),
        ))
    });
    let result = testarena_worker::run(client, config, shutdown).await;
    if let Some(server) = metrics {
        server.await.context("the metrics server panicked")??;
    }
    result
}

async fn run_projector(
    nats: NatsArgs,
    streams: StreamArgs,
    views: ViewArgs,
    projector: ProjectorArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut config = views.projector(&streams)?;
    config.auto_quarantine = projector.auto_quarantine()?;
    projector.history.apply(&mut config);
    let client = nats.connect(&nats.url(), "projector").await?;
    let Some(from) = projector.rebuild_from() else {
        return testarena_projector::run(client, config, shutdown).await;
    };
    let report = testarena_projector::rebuild(client, config, from)
        .await
        .context("rebuilding the views")?;
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    tracing::info!(
        events = report.events,
        log_batches = report.log_batches,
        seconds = secs,
        events_per_s = (report.events as f64 / secs) as u64,
        snapshot_events_seq = report.snapshot_events_seq,
        "views rebuilt from the streams"
    );
    Ok(())
}

/// One token every service listens to; SIGINT or SIGTERM cancels it.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        trigger.cancel();
    });
    token
}
