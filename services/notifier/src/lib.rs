//! The notifier: reports each queue back where its code lives (commit
//! statuses on GitHub, Gitea or GitLab) and sends the `[[notify]]` rules'
//! webhooks and Slack messages. It follows the events stream with its own
//! durable consumer, decides purely (`decide.rs`: facts + config →
//! deliveries) and records every attempt in the `<prefix>_notifications`
//! bucket, which `GET /api/notifications` lists.
//!
//! Delivery is at least once: a message is acknowledged only when each of
//! its deliveries is delivered, refused for good or 24 hours old, and a
//! settled delivery's record stops it being sent again; a notifier killed
//! between a receiver's 2xx and the record's put sends that one again.

mod commit_status;
mod consumer;
mod decide;
#[cfg(test)]
mod decide_tests;
mod facts;
mod handler;
mod interest;
mod notification_body;
mod outgoing;
mod records;
mod retry;
mod sender;
mod signature;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt;
use testarena_events::{await_streams, ArenaNames, StreamLimits};
use testarena_integrations::GatewayFile;
use testarena_views::AppliedWatch;
use tokio_util::sync::CancellationToken;

pub use consumer::consumer_config;
pub use signature::{sign, verify, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER};

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub names: ArenaNames,
    pub limits: StreamLimits,
    /// The projector's SQLite views, read for each event's queue.
    pub db_path: PathBuf,
    /// The projector whose views these are.
    pub projector_name: String,
    pub nats_timeout: Duration,
    /// The gateway config file's `[[repos]]` (their `status`) and `[[notify]]`.
    pub integrations: Arc<GatewayFile>,
    /// The gateway's address as people reach it: links point there.
    pub public_url: String,
    /// One HTTP attempt's limit.
    pub http_timeout: Duration,
}

/// Follows the consumer until `shutdown`.
pub async fn run(
    client: async_nats::Client,
    config: NotifierConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let setup = decide::Setup::new(config.integrations, config.public_url)
        .context("checking the gateway config's status repositories")?;
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(config.nats_timeout);
    tokio::select! {
        _ = await_streams(&js, &config.names, &config.limits) => {}
        _ = shutdown.cancelled() => return Ok(()),
    }
    let bucket = js
        .get_key_value(config.names.notifications_bucket())
        .await
        .with_context(|| {
            format!(
                "opening the bucket {} (`testarena init` creates it)",
                config.names.notifications_bucket()
            )
        })?;
    let stream = js
        .get_stream(&config.names.events_stream)
        .await
        .context("opening the events stream")?;
    let consumer = consumer::open_consumer(&stream, &config.names).await?;
    let (views, applied, watch_task) = AppliedWatch::open_views(
        &client,
        config.names.applied_subject(&config.projector_name),
        &config.db_path,
        shutdown.clone(),
    )
    .await
    .context("subscribing to the projector's applied sequence")?;
    let handler = handler::Handler {
        names: config.names,
        setup,
        views,
        applied,
        records: records::Records::new(bucket),
        sender: sender::Sender::new(config.http_timeout)?,
    };
    tracing::info!("notifier running");
    let result = follow(&consumer, &handler, &shutdown).await;
    watch_task.abort();
    let _ = watch_task.await;
    result
}

/// Pulls and handles one message at a time; a broken pull (NATS away) is
/// opened again after a pause.
async fn follow(
    consumer: &async_nats::jetstream::consumer::Consumer<
        async_nats::jetstream::consumer::pull::Config,
    >,
    handler: &handler::Handler,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    while !shutdown.is_cancelled() {
        let mut messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "pulling from the notifier's consumer; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                _ = shutdown.cancelled() => return Ok(()),
            };
            match next {
                Some(Ok(message)) => handler.handle(message).await,
                Some(Err(e)) => tracing::warn!(error = %e, "the notifier's pull"),
                None => break,
            }
        }
    }
    Ok(())
}
