//! The worker's own durable pull consumer: the queues the scheduler's
//! dispatcher gave to this worker (`<prefix>.events.*.dispatched.<id>`).
//! The worker creates it (its NATS user may create consumers with that
//! filter only) and brings it to its flags; JetStream removes it after an
//! hour unused, when the dispatcher has long given its queues to others.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, AckPolicy, Consumer};
use async_nats::jetstream::stream::Stream;
use testarena_events::ArenaNames;

/// A consumer nobody pulled from for this long is removed.
const INACTIVE_THRESHOLD: Duration = Duration::from_secs(3600);

/// `ack_wait` is the heartbeat deadline; one delivery more than the
/// attempts, so the last one only records that the queue gave up.
pub fn consumer_config(
    names: &ArenaNames,
    worker_id: &str,
    ack_wait: Duration,
    max_attempts: u32,
) -> pull::Config {
    pull::Config {
        durable_name: Some(names.worker_dispatch_consumer(worker_id)),
        description: Some(format!(
            "TestArena worker {worker_id}: queues dispatched to it"
        )),
        filter_subject: names.worker_dispatch_filter(worker_id),
        ack_policy: AckPolicy::Explicit,
        ack_wait,
        max_deliver: i64::from(max_attempts) + 1,
        inactive_threshold: INACTIVE_THRESHOLD,
        ..Default::default()
    }
}

/// Creates the consumer, or updates it to this worker's flags.
pub(crate) async fn open_consumer(
    stream: &Stream,
    config: pull::Config,
) -> anyhow::Result<Consumer<pull::Config>> {
    let name = config.durable_name.clone().unwrap_or_default();
    match stream.get_consumer::<pull::Config>(&name).await {
        Ok(_) => stream
            .update_consumer(config)
            .await
            .map_err(anyhow::Error::from),
        Err(_) => stream
            .create_consumer(config)
            .await
            .map_err(anyhow::Error::from),
    }
    .with_context(|| format!("creating or updating this worker's consumer {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_takes_this_workers_dispatches_one_delivery_more_than_the_attempts() {
        let config = consumer_config(&ArenaNames::default(), "w-1", Duration::from_secs(30), 3);
        assert_eq!(config.max_deliver, 4);
        assert_eq!(config.filter_subject, "arena.events.*.dispatched.w-1");
        assert_eq!(config.durable_name.as_deref(), Some("arena_worker_w-1"));
    }
}
