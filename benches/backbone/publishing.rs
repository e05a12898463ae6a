//! Queues' events published straight into the events stream to set a
//! scenario up (a long history without running it), the acknowledgements
//! awaited in windows so the publisher never waits a round trip per event.

use anyhow::Result;
use async_nats::jetstream;
use testarena_events::{ArenaNames, Event};

use crate::stack::Stack;

/// Acknowledgements outstanding before the publisher waits for them.
const ACK_WINDOW: usize = 1024;

/// Publishes `run_of(n)` for every `n` below `queues`, in order; the
/// number of events.
pub async fn publish_runs(
    stack: &Stack,
    queues: usize,
    run_of: impl Fn(usize) -> Result<Vec<Event>>,
) -> Result<u64> {
    let js = jetstream::new(stack.nats_client().await?);
    let names = ArenaNames::default();
    let mut acks = Vec::with_capacity(ACK_WINDOW);
    let mut published = 0;
    for n in 0..queues {
        for event in run_of(n)? {
            let subject = names.event_subject(&event.queue_id, event.body.kind());
            acks.push(js.publish(subject, event.to_json().into()).await?);
            published += 1;
        }
        if acks.len() >= ACK_WINDOW {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks {
        ack.await?;
    }
    Ok(published)
}
