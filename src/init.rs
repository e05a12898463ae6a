//! `testarena init`: the admin step that creates (or updates to the given
//! flags) the two streams, the artifacts bucket and the workers' durable
//! consumer. Services need
//! no right to change them; `testarena up` runs this itself for its
//! private NATS.

use anyhow::Context as _;
use async_nats::jetstream;
use testarena_events::{ensure_streams, ArenaNames, StreamLimits};

use crate::cli::service_args::ConsumerArgs;

pub async fn init(
    client: async_nats::Client,
    names: &ArenaNames,
    limits: &StreamLimits,
    consumer: &ConsumerArgs,
) -> anyhow::Result<()> {
    consumer.validate()?;
    let js = jetstream::new(client);
    ensure_streams(&js, names, limits).await.map_err(|e| {
        anyhow::anyhow!(
            "creating or updating the streams {} and {} and the artifacts bucket {}: {e} (does this NATS user have the admin rights?)",
            names.events_stream,
            names.logs_stream,
            names.artifacts_bucket
        )
    })?;
    let stream = js
        .get_stream(&names.events_stream)
        .await
        .context("looking up the events stream")?;
    testarena_worker::ensure_consumer(
        &stream,
        testarena_worker::consumer_config(names, consumer.ack_wait(), consumer.max_attempts),
    )
    .await?;
    Ok(())
}
