//! A waiting queue's `position` and `waiting_reason`, asked of a scheduler
//! (only its plan orders the waiting queues). Bounded: with no scheduler
//! answering, views are served without them.

use std::time::Duration;

use testarena_events::{ArenaNames, QueueId, QueueStatus, QueueView, WaitingReply, WaitingRequest};

/// How long a read waits for a scheduler's answer.
const ANSWER_WAIT: Duration = Duration::from_millis(250);

/// Asks a scheduler about `queues` (none: only the count).
pub(crate) async fn ask(
    client: &async_nats::Client,
    names: &ArenaNames,
    queues: Vec<QueueId>,
) -> Option<WaitingReply> {
    let payload = serde_json::to_vec(&WaitingRequest { queues }).ok()?;
    let request = client.request(names.scheduler_waiting_subject(), payload.into());
    match tokio::time::timeout(ANSWER_WAIT, request).await {
        Ok(Ok(answer)) => serde_json::from_slice(&answer.payload).ok(),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "no scheduler answered about waiting queues");
            None
        }
        Err(_) => None,
    }
}

/// Fills the waiting views' `position`, `waiting_reason` and `worker_available`.
pub(crate) async fn fill(client: &async_nats::Client, names: &ArenaNames, views: &mut [QueueView]) {
    let waiting: Vec<(usize, QueueId)> = views
        .iter()
        .enumerate()
        .filter(|(_, v)| v.status == QueueStatus::Waiting)
        .filter_map(|(i, v)| QueueId::parse(v.id.clone()).ok().map(|id| (i, id)))
        .collect();
    if waiting.is_empty() {
        return;
    }
    let ids: Vec<QueueId> = waiting.iter().map(|(_, id)| id.clone()).collect();
    let Some(reply) = ask(client, names, ids).await else {
        return;
    };
    for ((i, _), info) in waiting.iter().zip(reply.infos) {
        if let Some(info) = info {
            views[*i].position = Some(info.position);
            views[*i].waiting_reason = Some(info.reason);
            views[*i].worker_available = Some(info.runnable);
        }
    }
}
