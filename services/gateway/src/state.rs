//! What every handler shares.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use testarena_events::{ArenaNames, EventLog, QueueView, Unroutable};
use testarena_git_mirror::Mirrors;
use testarena_integrations::GatewayFile;
use testarena_views::{AppliedWatch, Views};

use crate::extra_metrics::ExtraMetrics;
use crate::projector_stall::ProjectorStall;
use crate::registry_watch::RegistryWatch;

pub(crate) struct AppState {
    pub client: async_nats::Client,
    /// JetStream with a short timeout: with NATS down, a write answers 503
    /// within about a second instead of hanging.
    pub js: jetstream::Context,
    /// Writes and direct reads of the events stream (through `js`).
    pub events: EventLog,
    pub names: ArenaNames,
    pub views: Views,
    pub applied: AppliedWatch,
    /// Why the projector does not apply, when it says so (`/readyz`).
    pub projector_stall: ProjectorStall,
    pub data_dir: PathBuf,
    pub submit_wait: Duration,
    pub extra_metrics: Option<ExtraMetrics>,
    /// The worker registry, watched.
    pub registry: Arc<RegistryWatch>,
    /// Workers seen within this long count for the submit-time check.
    pub worker_memory: Duration,
    /// The flip rate at or above which a test is `flaky` (`--flaky-flip-rate`).
    pub flaky_flip_rate: f64,
    /// The gateway's shutdown: open log streams end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// `--config`: the repositories whose hooks start queues.
    pub gateway_file: Arc<GatewayFile>,
    /// Bare mirrors, for reading a repository's `testarena.toml`.
    pub mirrors: Mirrors,
}

impl AppState {
    /// The submit-time check: a `profile`/`requires` some worker seen
    /// within `--worker-memory-hours` offers, else what is missing.
    pub(crate) fn check_routable(
        &self,
        profile: Option<&testarena_events::ProfileName>,
        requires: &[testarena_events::Label],
    ) -> Result<(), Unroutable> {
        testarena_events::check_routable(
            &self.registry.workers(),
            testarena_events::now_millis(),
            self.worker_memory,
            profile,
            requires,
        )
    }

    /// One queue's view, with `position` and `waiting_reason` if it waits.
    pub(crate) async fn with_waiting(&self, view: QueueView) -> QueueView {
        let mut views = vec![view];
        self.fill_waiting(&mut views).await;
        views.pop().expect("one view in, one out")
    }

    /// Fills the waiting views' `position` and `waiting_reason`, which only
    /// a scheduler knows (one ordering of the waiting queues for all).
    pub(crate) async fn fill_waiting(&self, views: &mut [QueueView]) {
        crate::waiting::fill(&self.client, &self.names, views).await;
    }
}
