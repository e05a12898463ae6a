//! Answers the gateway's question about waiting queues (their `position`
//! and `waiting_reason`, and how many wait) from this scheduler's plan, on
//! `<prefix>.scheduler.waiting` in a queue group, so one scheduler of
//! several answers each request.

use std::sync::Arc;

use futures_util::StreamExt;
use testarena_events::{ArenaNames, WaitingReply, WaitingRequest};
use tokio_util::sync::CancellationToken;

use crate::dispatch::Dispatcher;

const QUEUE_GROUP: &str = "testarena-schedulers";

/// Subscribes, then answers until `shutdown`.
pub(crate) async fn start(
    client: async_nats::Client,
    names: &ArenaNames,
    dispatcher: Arc<Dispatcher>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, async_nats::SubscribeError> {
    let mut requests = client
        .queue_subscribe(names.scheduler_waiting_subject(), QUEUE_GROUP.into())
        .await?;
    Ok(tokio::spawn(async move {
        loop {
            let request = tokio::select! {
                _ = shutdown.cancelled() => return,
                request = requests.next() => match request {
                    Some(request) => request,
                    None => return,
                },
            };
            let Some(reply_to) = request.reply else {
                continue;
            };
            let reply = match serde_json::from_slice::<WaitingRequest>(&request.payload) {
                Ok(asked) => WaitingReply {
                    infos: dispatcher.waiting_infos(&asked.queues),
                    waiting: dispatcher.waiting_count(),
                },
                Err(e) => {
                    tracing::debug!(error = %e, "an unreadable waiting request");
                    WaitingReply::default()
                }
            };
            let payload = serde_json::to_vec(&reply).unwrap_or_default();
            if let Err(e) = client.publish(reply_to, payload.into()).await {
                tracing::debug!(error = %e, "a waiting answer not sent");
            }
        }
    }))
}
