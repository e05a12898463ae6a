//! One pull of the worker's consumer: a queue for a free slot, or nothing.
//!
//! The pull waits at the server for `PULL_EXPIRES`. Each pull costs the
//! server a subscription, a request and, when nothing comes, a timeout
//! message: with 5 s, 50 idle workers made 10 of those a second, a good
//! part of the idle stack's CPU. A long pull has one hazard: a request the
//! server lost with a connection (a restart of nats-server, a failover)
//! would be waited out, with queues dispatched to this worker meanwhile.
//! So a waiting pull also watches the client's connection count and pulls
//! again as soon as it was re-made.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::PullConsumer};
use async_nats::Statistics;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

/// How long one pull waits at the server for a queue.
const PULL_EXPIRES: Duration = Duration::from_secs(30);
/// How often a waiting pull looks whether the connection was re-made.
const RECONNECT_CHECK: Duration = Duration::from_secs(1);

/// What one pull gave.
#[expect(
    clippy::large_enum_variant,
    reason = "one value per pull, moved once: boxing would only add an allocation"
)]
pub(crate) enum Pulled {
    Message(jetstream::Message),
    Nothing,
    Shutdown,
}

/// One message, so nothing waits in this process while its ack timer runs.
/// Errors are logged and retried after a pause.
pub(crate) async fn pull_one(
    consumer: &PullConsumer,
    client: &async_nats::Client,
    shutdown: &CancellationToken,
) -> Pulled {
    let statistics = client.statistics();
    let connects = statistics.connects.load(Ordering::Relaxed);
    let batch = consumer
        .batch()
        .max_messages(1)
        .expires(PULL_EXPIRES)
        .messages()
        .await;
    let mut batch = match batch {
        Ok(batch) => batch,
        Err(e) => {
            tracing::warn!(error = %e, "pulling from the consumer failed; retrying");
            return pause(Duration::from_millis(500), shutdown).await;
        }
    };
    let next = tokio::select! {
        _ = shutdown.cancelled() => return Pulled::Shutdown,
        _ = reconnected(&statistics, connects) => return Pulled::Nothing,
        next = batch.next() => next,
    };
    match next {
        Some(Ok(message)) => Pulled::Message(message),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "pull request failed; retrying");
            pause(Duration::from_millis(100), shutdown).await
        }
        None => Pulled::Nothing,
    }
}

/// Resolves once the client has connected again since it had `connects`
/// connections: a pull request made before is gone with the old one.
async fn reconnected(statistics: &Statistics, connects: u64) {
    let mut check = tokio::time::interval(RECONNECT_CHECK);
    loop {
        check.tick().await;
        if statistics.connects.load(Ordering::Relaxed) != connects {
            return;
        }
    }
}

async fn pause(length: Duration, shutdown: &CancellationToken) -> Pulled {
    tokio::select! {
        _ = shutdown.cancelled() => Pulled::Shutdown,
        _ = tokio::time::sleep(length) => Pulled::Nothing,
    }
}
