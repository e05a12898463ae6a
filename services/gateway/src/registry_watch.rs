//! The worker registry as the gateway knows it: a watch of the registry
//! bucket, for `GET /api/workers` and the submit-time routable check. It
//! only reads; which worker runs what is the scheduler's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use futures_util::StreamExt;
use testarena_events::{watch_registry, ArenaNames, RegistryChange, WorkerRecord};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub(crate) struct RegistryWatch {
    workers: Mutex<BTreeMap<String, WorkerRecord>>,
}

impl RegistryWatch {
    /// Starts watching; the task runs until `shutdown`, starting over
    /// (with backoff) when the watch ends, as it does with NATS down.
    pub(crate) fn start(
        js: jetstream::Context,
        names: ArenaNames,
        shutdown: CancellationToken,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let watch = Arc::new(Self::default());
        let task = tokio::spawn({
            let watch = watch.clone();
            async move {
                let mut backoff = Duration::from_millis(100);
                while !shutdown.is_cancelled() {
                    if let Err(e) = watch.follow(&js, &names, &shutdown).await {
                        tracing::debug!(error = %format!("{e:#}"), "the registry watch ended; starting over");
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        });
        (watch, task)
    }

    /// Every worker in the registry, live or not.
    pub(crate) fn workers(&self) -> Vec<WorkerRecord> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, WorkerRecord>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn follow(
        &self,
        js: &jetstream::Context,
        names: &ArenaNames,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut entries = watch_registry(js, names)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        self.lock().clear();
        loop {
            let entry = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                entry = entries.next() => entry,
            };
            let entry = entry
                .context("the registry watch ended")?
                .context("watching the registry")?;
            match RegistryChange::of(&entry) {
                Some(RegistryChange::Seen(record)) => {
                    self.lock().insert(record.id.clone(), *record);
                }
                Some(RegistryChange::Left(id)) => {
                    self.lock().remove(&id);
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
impl RegistryWatch {
    /// For the in-process tests: a record as if the watch had seen it.
    pub(crate) fn insert(&self, record: WorkerRecord) {
        self.lock().insert(record.id.clone(), record);
    }
}
