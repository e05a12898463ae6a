//! The gateway: validates requests and turns writes into events on NATS
//! JetStream; answers reads from the projector's SQLite views and queue
//! folders. It never writes a view.

mod api;
mod bisect_request;
mod dashboard;
mod extra_metrics;
mod hooks;
mod junit_report;
mod log_scan;
mod metrics;
mod offline_record;
mod projector_stall;
mod queue_cursor;
mod registry_watch;
mod repo_run;
mod request_error;
mod rerun;
mod state;
mod submission;
mod test_cursor;
mod waiting;

#[cfg(test)]
mod in_process_tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{EndpointExt, Route, Server};
use testarena_events::{ensure_streams, streams_exist, ArenaNames, EventLog, StreamLimits};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::api::auth::ApiAuth;
pub use crate::extra_metrics::ExtraMetrics;

use crate::projector_stall::ProjectorStall;
use crate::registry_watch::RegistryWatch;
use crate::state::AppState;
use testarena_git_mirror::Mirrors;
use testarena_integrations::GatewayFile;
use testarena_views::AppliedWatch;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub names: ArenaNames,
    pub limits: StreamLimits,
    pub listen: String,
    /// Root of the per-queue folders the projector writes.
    pub data_dir: PathBuf,
    pub db_path: PathBuf,
    /// The projector whose views this gateway reads.
    pub projector_name: String,
    /// How long a write waits for the projector before answering anyway.
    pub submit_wait: Duration,
    /// JetStream request timeout: how fast a write fails with NATS down.
    pub nats_timeout: Duration,
    /// Appended to `/metrics` (the in-process worker's, under `up`).
    pub extra_metrics: Option<ExtraMetrics>,
    pub auth: ApiAuth,
    /// Workers seen within this long count for the submit-time check.
    pub worker_memory: Duration,
    /// The flip rate at or above which a test is `flaky`.
    pub flaky_flip_rate: f64,
    /// `--config`: the repositories whose hooks start queues.
    pub gateway_file: Arc<GatewayFile>,
    /// Where the gateway keeps its bare mirrors (`testarena.toml` reads).
    pub mirrors_dir: PathBuf,
}

/// A gateway with its listening socket bound (so `local_addr` is known
/// before it serves, e.g. for port 0 in tests).
pub struct BoundGateway {
    acceptor: TcpAcceptor,
    config: GatewayConfig,
}

pub async fn bind(config: GatewayConfig) -> anyhow::Result<BoundGateway> {
    let acceptor = TcpListener::bind(config.listen.clone())
        .into_acceptor()
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    Ok(BoundGateway { acceptor, config })
}

impl BoundGateway {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().copied())
    }

    /// Serves until `shutdown` fires, then drains open requests.
    pub async fn serve(
        self,
        client: async_nats::Client,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let config = self.config;
        let mut js = async_nats::jetstream::new(client.clone());
        js.set_timeout(config.nats_timeout);
        // Best effort: with NATS down, or the streams not made yet by
        // `testarena init`, the gateway still starts and answers 503.
        if !streams_exist(&js, &config.names).await {
            if let Err(e) = ensure_streams(&js, &config.names, &config.limits).await {
                tracing::warn!(error = %e, "the streams do not exist and could not be created (run `testarena init`); continuing");
            }
        }
        let (state, tasks) = state(&config, client, js, &shutdown).await?;
        let server_url = self
            .acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| format!("http://{s}")))
            .unwrap_or_default();
        let app = app(
            state,
            config.auth.clone(),
            &server_url,
            &example_repo(&config),
        );
        tracing::info!(addr = %server_url, "gateway serving");
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                app,
                shutdown.cancelled_owned(),
                Some(Duration::from_secs(5)),
            )
            .await
            .context("serving HTTP");
        for task in tasks {
            task.abort();
        }
        result
    }
}

/// What every handler shares, and the tasks that keep it current (the
/// projector's applied sequence and stall, the worker registry and its
/// departures' record).
async fn state(
    config: &GatewayConfig,
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Arc<AppState>, [JoinHandle<()>; 4])> {
    let (views, applied, watch_task) = AppliedWatch::open_views(
        &client,
        config.names.applied_subject(&config.projector_name),
        &config.db_path,
        shutdown.clone(),
    )
    .await
    .context("subscribing to the projector's applied sequence")?;
    let (projector_stall, stall_task) = ProjectorStall::start(
        &client,
        config.names.projector_stall_subject(&config.projector_name),
        shutdown.clone(),
    )
    .await
    .context("subscribing to the projector's stall announcements")?;
    let (registry, registry_task) =
        RegistryWatch::start(js.clone(), config.names.clone(), shutdown.clone());
    let state = Arc::new(AppState {
        events: EventLog::new(client.clone(), js.clone(), config.names.clone()),
        client,
        js,
        registry,
        worker_memory: config.worker_memory,
        names: config.names.clone(),
        views,
        applied,
        projector_stall,
        data_dir: config.data_dir.clone(),
        submit_wait: config.submit_wait,
        extra_metrics: config.extra_metrics.clone(),
        flaky_flip_rate: config.flaky_flip_rate,
        shutdown: shutdown.clone(),
        gateway_file: config.gateway_file.clone(),
        mirrors: Mirrors::new(&config.mirrors_dir),
    });
    let offline_task = tokio::spawn(offline_record::run(
        state.registry.clone(),
        state.views.clone(),
        state.events.clone(),
        shutdown.clone(),
    ));
    Ok((state, [watch_task, stall_task, registry_task, offline_task]))
}

/// Every route, with auth, the `Allow` header of a 405 and JSON errors: what
/// `serve` listens with and what the in-process tests call.
/// Where `scripts/demo` puts the example's repository: `example-repo` in
/// the data dir (the views' folder), named by the request examples.
fn example_repo(config: &GatewayConfig) -> String {
    let data_dir = config.db_path.parent().unwrap_or(std::path::Path::new("."));
    let data_dir = std::path::absolute(data_dir).unwrap_or(data_dir.to_owned());
    data_dir.join("example-repo").to_string_lossy().into_owned()
}

fn app(
    state: Arc<AppState>,
    auth: ApiAuth,
    server_url: &str,
    example_repo: &str,
) -> impl poem::Endpoint {
    let api = api::service(server_url);
    let document = Arc::new(api::document::Document::from_spec(
        &api.spec(),
        example_repo,
    ));
    let swagger = api::document::swagger_html(&api.swagger_ui_html(), document.json());
    let served = document.clone();
    Route::new()
        .at(
            "/api/openapi.json",
            poem::get(poem::endpoint::make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(served.json().to_owned())
            })),
        )
        .at(
            "/docs",
            poem::get(poem::endpoint::make_sync(move |_| {
                poem::web::Html(swagger.clone())
            })),
        )
        // The dashboard page answers `/`: `nest("/")` would otherwise take it.
        .nest("/", dashboard::in_front_of(api))
        // A WebSocket: not an OpenAPI operation (docs/api.md describes it).
        .at(
            "/api/boards/:worker/:board/console",
            poem::get(api::board_console::console),
        )
        .at("/metrics", poem::get(metrics::metrics))
        .at("/assets/:name", poem::get(dashboard::assets))
        .with(api::query_params::RejectUnknownQuery(document.clone()))
        .with(api::method_not_allowed::AllowOn405(document))
        .with(auth)
        .data(state)
        .catch_all_error(|e| async move { api::error::json_error_response(e) })
}
