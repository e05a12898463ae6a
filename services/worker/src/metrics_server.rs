//! `/metrics` for a worker run on its own (`--metrics-listen ADDR`).

use std::sync::Arc;

use anyhow::Context as _;
use poem::listener::TcpListener;
use poem::web::Data;
use poem::{handler, EndpointExt, Response, Route, Server};
use tokio_util::sync::CancellationToken;

use crate::metrics::WorkerMetrics;

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[handler]
fn render(metrics: Data<&Arc<WorkerMetrics>>) -> Response {
    let mut body = metrics.render();
    body.push_str("# EOF\n");
    Response::builder().content_type(OPENMETRICS).body(body)
}

pub async fn serve_metrics(
    listen: String,
    metrics: Arc<WorkerMetrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = Route::new().at("/metrics", poem::get(render)).data(metrics);
    Server::new(TcpListener::bind(listen.clone()))
        .run_with_graceful_shutdown(app, shutdown.cancelled_owned(), None)
        .await
        .with_context(|| format!("serving worker metrics on {listen}"))
}
