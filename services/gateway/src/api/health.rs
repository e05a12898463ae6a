//! Liveness and readiness probes.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{payload::PlainText, ApiResponse, OpenApi};

use super::ApiTags;
use crate::state::AppState;

#[derive(ApiResponse)]
pub(crate) enum Readiness {
    /// NATS is connected, the view database answers and the projector
    /// applies.
    #[oai(status = 200)]
    Ready(PlainText<String>),
    /// What is not ready, one line each.
    #[oai(status = 503)]
    NotReady(PlainText<String>),
}

pub(crate) struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process answers
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> PlainText<&'static str> {
        PlainText("ok")
    }

    /// Readiness: NATS connected, the view database readable, the projector applying
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self, state: Data<&Arc<AppState>>) -> Readiness {
        let mut problems = Vec::new();
        if let Err(e) = state.events.ensure_connected() {
            problems.push(format!("nats: {}", e));
        }
        if let Err(e) = state.views.applied_events().await {
            problems.push(format!("view database: {e}"));
        }
        if let Some(why) = state.projector_stall.current() {
            problems.push(why);
        }
        if problems.is_empty() {
            Readiness::Ready(PlainText("ready".into()))
        } else {
            Readiness::NotReady(PlainText(problems.join("\n")))
        }
    }
}
