//! The durable pull consumer every worker shares. `testarena init` creates
//! or updates it (an admin right); a worker opens it as it is, and changes
//! it only where its NATS user may — else it says what differs and goes on.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{self, pull, AckPolicy, Consumer, IntoConsumerConfig as _};
use async_nats::jetstream::stream::Stream;
use testarena_events::ArenaNames;

/// The consumer's settings: `ack_wait` is the heartbeat deadline; one
/// delivery more than the attempts, so the last one only records that the
/// queue gave up.
pub fn consumer_config(names: &ArenaNames, ack_wait: Duration, max_attempts: u32) -> pull::Config {
    pull::Config {
        durable_name: Some(names.worker_consumer()),
        description: Some("TestArena workers: one submitted queue to one worker".into()),
        filter_subject: names.kind_filter("submitted"),
        ack_policy: AckPolicy::Explicit,
        ack_wait,
        max_deliver: i64::from(max_attempts) + 1,
        ..Default::default()
    }
}

/// What of `wanted` an existing consumer does not have, for a message; empty
/// when it matches.
fn differences(existing: &consumer::Config, wanted: &consumer::Config) -> Vec<String> {
    let mut found = Vec::new();
    if existing.ack_wait != wanted.ack_wait {
        found.push(format!(
            "ack_wait {:?} (wanted {:?})",
            existing.ack_wait, wanted.ack_wait
        ));
    }
    if existing.max_deliver != wanted.max_deliver {
        found.push(format!(
            "max_deliver {} (wanted {})",
            existing.max_deliver, wanted.max_deliver
        ));
    }
    if existing.filter_subject != wanted.filter_subject {
        found.push(format!(
            "filter {:?} (wanted {:?})",
            existing.filter_subject, wanted.filter_subject
        ));
    }
    found
}

/// Creates the consumer, or updates it to `config` (the admin step).
pub async fn ensure_consumer(
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
    .with_context(|| format!("creating or updating the durable consumer {name}"))
}

/// The worker's side: the consumer as it is; created if missing, updated if
/// it differs, each only where this NATS user may.
pub(crate) async fn open_consumer(
    stream: &Stream,
    config: pull::Config,
) -> anyhow::Result<Consumer<pull::Config>> {
    let name = config.durable_name.clone().unwrap_or_default();
    let Ok(mut existing) = stream.get_consumer::<pull::Config>(&name).await else {
        return stream.create_consumer(config).await.map_err(|e| {
            anyhow::anyhow!(
                "the durable consumer {name} does not exist and this NATS user may not create it \
                 ({e}); an admin creates it with `testarena init`"
            )
        });
    };
    let current = existing
        .info()
        .await
        .context("reading the consumer's settings")?
        .config
        .clone();
    let differ = differences(&current, &config.clone().into_consumer_config());
    if differ.is_empty() {
        return Ok(existing);
    }
    match stream.update_consumer(config).await {
        Ok(updated) => Ok(updated),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "the consumer {name} has {}; this worker may not change it, so it runs with \
                 them (`testarena init` with this worker's flags changes them)",
                differ.join(", ")
            );
            Ok(existing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_allows_one_delivery_more_than_the_attempts() {
        let config = consumer_config(&ArenaNames::default(), Duration::from_secs(30), 3);
        assert_eq!(config.max_deliver, 4);
        assert_eq!(config.filter_subject, "arena.events.*.submitted");
        assert_eq!(config.durable_name.as_deref(), Some("arena_workers"));
    }

    #[test]
    fn differences_name_each_setting_that_differs() {
        let names = ArenaNames::default();
        let wanted = consumer_config(&names, Duration::from_secs(30), 3).into_consumer_config();
        assert!(differences(&wanted, &wanted).is_empty());
        let other = consumer_config(&names, Duration::from_secs(5), 1).into_consumer_config();
        let found = differences(&other, &wanted);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("ack_wait 5s"), "{found:?}");
        assert!(found[1].contains("max_deliver 2 (wanted 4)"), "{found:?}");
    }
}
