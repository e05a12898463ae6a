//! `/metrics` (OpenMetrics text): queues by status and tasks by result from
//! the views, projector lag (events stream last sequence − applied), and the
//! workers' consumer backlog — read at scrape time, so they are never stale.
//! Under `testarena up` the in-process worker's metrics are appended.

use std::sync::Arc;

use poem::web::Data;
use poem::{handler, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::state::AppState;

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[handler]
pub(crate) async fn metrics(state: Data<&Arc<AppState>>) -> Response {
    let mut registry = Registry::with_prefix("testarena");
    let queues = Family::<StatusLabel, Gauge>::default();
    let tasks = Family::<ResultLabel, Gauge>::default();
    let lag = Gauge::<i64>::default();
    let pending = Gauge::<i64>::default();
    let up = Gauge::<i64>::default();
    registry.register("queues", "Queues in the view, by status", queues.clone());
    registry.register(
        "tasks",
        "Tasks in the view, by result (or status while unfinished)",
        tasks.clone(),
    );
    registry.register(
        "projector_lag_events",
        "Events stream last sequence minus the projector's applied sequence",
        lag.clone(),
    );
    registry.register(
        "queues_waiting_dispatch",
        "Queues the scheduler has not given to a worker yet",
        pending.clone(),
    );
    registry.register(
        "view_up",
        "1 when the view database answered this scrape",
        up.clone(),
    );

    if let Ok(counts) = state.views.metrics_counts().await {
        up.set(1);
        for (status, n) in counts.queues {
            queues.get_or_create(&StatusLabel { status }).set(n);
        }
        for (result, n) in counts.tasks {
            tasks.get_or_create(&ResultLabel { result }).set(n);
        }
    }
    if let Ok(mut stream) = state.js.get_stream(&state.names.events_stream).await {
        if let (Ok(info), Ok(applied)) = (stream.info().await, state.views.applied_events().await) {
            lag.set(info.state.last_sequence.saturating_sub(applied) as i64);
        }
    }
    if let Some(reply) = crate::waiting::ask(&state.client, &state.names, Vec::new()).await {
        pending.set(reply.waiting as i64);
    }
    let mut body = String::new();
    let _ = prometheus_client::encoding::text::encode_registry(&mut body, &registry);
    if let Some(extra) = &state.extra_metrics {
        body.push_str(&(extra.0)());
    }
    body.push_str("# EOF\n");
    Response::builder().content_type(OPENMETRICS).body(body)
}
