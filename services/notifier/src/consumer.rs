//! The notifier's durable pull consumer on the events stream,
//! `<prefix>_notifier`, filtered to what it reports on: `submitted`, the
//! stages (a checkout names the commit), `finished` and a bisect's
//! `ended`. Created by the notifier (its NATS user may create this one
//! consumer) from the events published after it first exists, never the
//! whole history. Explicit acks; no `max_deliver`: a delivery's retries
//! are bounded by the 24 hours of `retry.rs`, each a nak with its delay.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, AckPolicy, Consumer, DeliverPolicy};
use async_nats::jetstream::stream::Stream;
use testarena_events::ArenaNames;

/// Longer than one message's work between progress acks (one delivery's
/// HTTP timeout), short enough that a killed notifier's message returns
/// soon.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

pub fn consumer_config(names: &ArenaNames) -> pull::Config {
    pull::Config {
        durable_name: Some(names.notifier_consumer()),
        description: Some("TestArena notifier: commit statuses and notifications".into()),
        filter_subjects: vec![
            names.kind_filter("submitted"),
            names.kind_filter("stage_finished"),
            names.kind_filter("finished"),
            format!("{}.bisect.*.ended", names.prefix),
        ],
        deliver_policy: DeliverPolicy::New,
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_deliver: -1,
        max_ack_pending: 1000,
        ..Default::default()
    }
}

/// The consumer, created the first time; an existing one is kept with its
/// position (a restart resumes where the last run acknowledged).
pub(crate) async fn open_consumer(
    stream: &Stream,
    names: &ArenaNames,
) -> anyhow::Result<Consumer<pull::Config>> {
    let config = consumer_config(names);
    let name = names.notifier_consumer();
    match stream.get_consumer::<pull::Config>(&name).await {
        Ok(consumer) => Ok(consumer),
        Err(_) => stream
            .create_consumer(config)
            .await
            .map_err(anyhow::Error::from),
    }
    .with_context(|| format!("opening the notifier's consumer {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_follows_what_is_reported_from_now_on() {
        let config = consumer_config(&ArenaNames::default());
        assert_eq!(config.durable_name.as_deref(), Some("arena_notifier"));
        assert_eq!(
            config.filter_subjects,
            [
                "arena.events.*.submitted",
                "arena.events.*.stage_finished",
                "arena.events.*.finished",
                "arena.bisect.*.ended"
            ]
        );
        assert_eq!(config.deliver_policy, DeliverPolicy::New);
        assert_eq!(config.max_deliver, -1);
    }
}
