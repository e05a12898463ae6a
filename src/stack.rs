//! `testarena up`: a private nats-server (unless a URL is given) and the
//! five services (gateway, scheduler, worker, projector, notifier) in one process,
//! with all data under one folder.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use testarena_gateway::GatewayConfig;
use testarena_projector::ProjectorConfig;
use testarena_scheduler::SchedulerConfig;
use testarena_worker::WorkerConfig;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::service_args::{
    GatewayArgs, HistoryArgs, NatsArgs, SchedulerArgs, StreamArgs, ViewArgs, WorkerArgs,
};
use crate::nats_server::NatsServer;

/// The profiles `up` uses when given none: the bundled example's.
const DEFAULT_WORKER_CONFIG: &str = include_str!("../examples/qemu-arm/worker.toml");

/// `testarena up`'s flags: every service's, and where NATS is.
#[derive(Debug, clap::Args)]
pub struct UpOptions {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Worker profiles; the bundled qemu-arm/esp-idf example when absent.
    #[arg(long, env = "TESTARENA_WORKER_CONFIG")]
    pub worker_config: Option<PathBuf>,
    /// Where the private nats-server listens, e.g. 127.0.0.1:4222, so
    /// subscribers find it there (a free loopback port when absent).
    #[arg(long, env = "TESTARENA_NATS_LISTEN", conflicts_with = "nats_url")]
    pub nats_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub streams: StreamArgs,
    #[command(flatten)]
    pub views: ViewArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// The gateway config file (`[[repos]]`, `[[notify]]`): the
    /// repositories whose hooks start queues, where the notifier reports
    /// statuses and sends notifications.
    #[arg(long, env = "TESTARENA_GATEWAY_CONFIG")]
    pub gateway_config: Option<PathBuf>,
    #[command(flatten)]
    pub notifier: crate::cli::service_args::NotifierArgs,
}

/// Every service's config, from `up`'s flags.
struct Configs {
    gateway: GatewayConfig,
    scheduler: SchedulerConfig,
    worker: WorkerConfig,
    projector: ProjectorConfig,
}

type ServiceResult = (&'static str, anyhow::Result<()>);

pub async fn up(options: UpOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let data_dir = options.views.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let (_nats, nats_url) = private_nats(&options, &data_dir)?;
    let configs = configs(&options, &data_dir)?;
    let client = options.nats.connect(&nats_url, "up").await?;
    init_streams(&client, &configs.worker).await;
    let integrations = configs.gateway.gateway_file.clone();
    let gateway = testarena_gateway::bind(configs.gateway).await?;
    let url = gateway
        .local_addr()
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|| options.gateway.listen.clone());

    let mut services: JoinSet<ServiceResult> = JoinSet::new();
    let stop = shutdown.child_token();
    let (c, s) = (client.clone(), stop.clone());
    services.spawn(async move {
        let result = testarena_projector::run(c, configs.projector, s).await;
        ("projector", result)
    });
    let (c, s) = (client.clone(), stop.clone());
    services.spawn(async move {
        let result = testarena_scheduler::run(c, configs.scheduler, s).await;
        ("scheduler", result)
    });
    let (c, s) = (client.clone(), stop.clone());
    services.spawn(async move { ("worker", testarena_worker::run(c, configs.worker, s).await) });
    let notifier =
        options
            .notifier
            .config(&options.streams, &options.views, integrations, Some(&url))?;
    let (c, s) = (client.clone(), stop.clone());
    services.spawn(async move { ("notifier", testarena_notifier::run(c, notifier, s).await) });
    let (c, s) = (client, stop.clone());
    services.spawn(async move { ("gateway", gateway.serve(c, s).await) });
    // What a person needs, once it answers; stdout so scripts can read it.
    let ready = wait_until_ready(&url).await;
    println!("{}", up_banner(&url, &nats_url, ready));
    until_one_ends(services, stop).await
}

/// The nats-server `up` starts unless given a URL, and the URL to use.
fn private_nats(
    options: &UpOptions,
    data_dir: &Path,
) -> anyhow::Result<(Option<NatsServer>, String)> {
    if let Some(url) = &options.nats.nats_url {
        return Ok((None, url.clone()));
    }
    let store = data_dir.join("nats");
    let server = match options.nats_listen {
        Some(listen) => NatsServer::start_listening(&store, listen)?,
        None => NatsServer::start(&store)?,
    };
    let url = server.url();
    tracing::info!(%url, pid = server.pid(), "private nats-server started");
    Ok((Some(server), url))
}

fn configs(options: &UpOptions, data_dir: &Path) -> anyhow::Result<Configs> {
    let profiles = match &options.worker_config {
        Some(path) => testarena_worker::Profiles::load(path)?,
        None => testarena_worker::Profiles::parse(DEFAULT_WORKER_CONFIG)
            .context("the bundled worker config")?,
    };
    let worker = options
        .worker
        .config(&options.streams, profiles, data_dir)?;
    let mut gateway = options.gateway.config(&options.streams, &options.views)?;
    gateway.gateway_file =
        crate::cli::service_args::gateway_file(options.gateway_config.as_deref())?;
    let worker_metrics = worker.metrics.clone();
    gateway.extra_metrics = Some(testarena_gateway::ExtraMetrics(std::sync::Arc::new(
        move || worker_metrics.render(),
    )));
    Ok(Configs {
        gateway,
        scheduler: options.scheduler.config(&options.streams, &options.views)?,
        projector: {
            let mut projector = options.views.projector(&options.streams)?;
            options.history.apply(&mut projector);
            projector
        },
        worker,
    })
}

/// The admin step, where `up` may take it (its private NATS has no users);
/// on a NATS of least-privilege users, `testarena init` has done it.
async fn init_streams(client: &async_nats::Client, worker: &WorkerConfig) {
    let init = crate::init::init(client.clone(), &worker.names, &worker.limits);
    if let Err(e) = tokio::time::timeout(std::time::Duration::from_secs(10), init)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("NATS did not answer in 10 s")))
    {
        tracing::warn!("could not create or update the streams: {e:#}; the services wait for them");
    }
}

/// Waits for the services; one ending ends them all. The first failure.
async fn until_one_ends(
    mut services: JoinSet<ServiceResult>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut failure = None;
    while let Some(joined) = services.join_next().await {
        let (name, result) = joined.context("a service task panicked")?;
        if let Err(e) = result {
            tracing::error!(service = name, "{e:#}");
            failure.get_or_insert(e.context(format!("{name} failed")));
        }
        stop.cancel();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Polls the gateway's `/readyz` (NATS connected, views readable) for up
/// to 30 s.
async fn wait_until_ready(url: &str) -> bool {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        let answer = client.get(format!("{url}/readyz")).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// The lines `up` prints: the addresses a user needs.
fn up_banner(url: &str, nats_url: &str, ready: bool) -> String {
    let state = if ready {
        "TestArena is up"
    } else {
        "TestArena started, but is not ready after 30 s (see the log above)"
    };
    // The last line pastes into a shell as it is, so the CLI finds this stack.
    format!(
        "{state}\n  dashboard  {url}/\n  API docs   {url}/docs\n  NATS       {nats_url}   \
         (for subscribers: TESTARENA_NATS_URL={nats_url})\n  export TESTARENA_SERVER={url}   # for the CLI"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_names_dashboard_api_docs_and_nats() {
        let banner = up_banner("http://127.0.0.1:8080", "nats://127.0.0.1:4222", true);
        assert_eq!(
            banner,
            "TestArena is up\n  dashboard  http://127.0.0.1:8080/\n  API docs   http://127.0.0.1:8080/docs\n  \
             NATS       nats://127.0.0.1:4222   (for subscribers: TESTARENA_NATS_URL=nats://127.0.0.1:4222)\n  \
             export TESTARENA_SERVER=http://127.0.0.1:8080   # for the CLI"
        );
        assert!(up_banner("u", "n", false).starts_with("TestArena started, but is not ready"));
    }
}
