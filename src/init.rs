//! `testarena init`: the admin step that creates (or updates to the given
//! flags) the two streams, the registry bucket and the artifacts bucket,
//! and removes the durable consumer all workers shared before the
//! dispatcher. Services need no right to change them; `testarena up` runs
//! this itself for its private NATS.

use async_nats::jetstream;
use testarena_events::{ensure_streams, ArenaNames, StreamLimits};

pub async fn init(
    client: async_nats::Client,
    names: &ArenaNames,
    limits: &StreamLimits,
) -> anyhow::Result<()> {
    let js = jetstream::new(client);
    ensure_streams(&js, names, limits).await.map_err(|e| {
        anyhow::anyhow!(
            "creating or updating the streams {} and {}, the bucket {} and the artifacts bucket {}: {e} \
             (does this NATS user have the admin rights?)",
            names.events_stream,
            names.logs_stream,
            names.fleet_bucket(),
            names.artifacts_bucket
        )
    })?;
    remove_legacy_consumer(&js, names).await;
    Ok(())
}

/// Queues waiting in the old shared consumer are dispatched from the
/// events stream like every other (the dispatcher replays it), so the
/// consumer only holds on to messages nobody pulls.
async fn remove_legacy_consumer(js: &jetstream::Context, names: &ArenaNames) {
    let Ok(stream) = js.get_stream(&names.events_stream).await else {
        return;
    };
    let legacy = names.legacy_worker_consumer();
    if stream
        .get_consumer::<jetstream::consumer::pull::Config>(&legacy)
        .await
        .is_ok()
    {
        match stream.delete_consumer(&legacy).await {
            Ok(_) => tracing::info!(consumer = %legacy, "removed the workers' old shared consumer"),
            Err(e) => {
                tracing::warn!(consumer = %legacy, error = %e, "could not remove the old shared consumer")
            }
        }
    }
}
