//! Listens for `cancel_requested` and `deleted` events (core NATS
//! subscription on the event subjects: only live ones matter here; a queue
//! picked up later checks its history) and stops the matching running queue;
//! and for `finished`, which stops the shards of a sharded queue that
//! another shard ended.

use futures_util::StreamExt;
use testarena_events::{ArenaNames, Event, EventBody};
use tokio_util::sync::CancellationToken;

use crate::stop_signal::{Registry, StopReason};

pub(crate) async fn listen(
    client: async_nats::Client,
    names: ArenaNames,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), async_nats::SubscribeError> {
    let cancels = client
        .subscribe(names.kind_filter("cancel_requested"))
        .await?;
    let deletes = client.subscribe(names.kind_filter("deleted")).await?;
    let finishes = client.subscribe(names.kind_filter("finished")).await?;
    let mut both =
        futures_util::stream::select(futures_util::stream::select(cancels, deletes), finishes);
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            message = both.next() => match message {
                Some(message) => message,
                None => return Ok(()),
            },
        };
        // A `finished` needs only its subject: no payload to parse for
        // each of every queue's ends.
        if message.subject.ends_with(".finished") {
            if let Some(queue_id) = names.queue_id_of_subject(&message.subject) {
                registry.stop_shards(&queue_id);
            }
            continue;
        }
        let Ok(event) = Event::from_json(&message.payload) else {
            continue;
        };
        match event.body {
            EventBody::CancelRequested { reason } => registry.stop(
                &event.queue_id,
                StopReason::Cancelled(reason.unwrap_or_else(|| "cancelled by a user".into())),
            ),
            EventBody::Deleted {} => registry.stop(&event.queue_id, StopReason::Deleted),
            _ => {}
        }
    }
}
