//! Answers the gateway's requests to this worker (core NATS request/reply
//! on `<prefix>.fleet.<id>.drain` and `.readmit`): an operator's drain,
//! and taking a quarantined or drained profile back (its boot failure
//! count starts over); for boards (boards.rs), `power` (an operator's or
//! a reserver's power action, run beside this loop so a slow relay holds
//! no other request up) and `console` (the board's recent output, raw).

use futures_util::StreamExt;
use testarena_events::{ArenaNames, OperatorReply, ProfileName, ReadmitRequest};
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::boards::Boards;
use crate::boot_health::BootHealth;
use crate::presence::Presence;

/// Header of a `console` reply that could not be given (no such board).
const ERROR_HEADER: &str = "Testarena-Error";

pub(crate) async fn listen(
    client: async_nats::Client,
    names: ArenaNames,
    presence: Presence,
    boot_health: Arc<BootHealth>,
    boards: Arc<Boards>,
    shutdown: CancellationToken,
) -> Result<(), async_nats::SubscribeError> {
    let mut power_actions = tokio::task::JoinSet::new();
    let id = presence.id();
    let mut requests = client
        .subscribe(names.worker_control_subject(&id, "*"))
        .await?;
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            message = requests.next() => match message {
                Some(message) => message,
                None => return Ok(()),
            },
        };
        while power_actions.try_join_next().is_some() {}
        let action = message.subject.rsplit('.').next().unwrap_or_default();
        let reply = match action {
            "power" => {
                let (client, boards) = (client.clone(), boards.clone());
                power_actions.spawn(async move {
                    let reply = boards.power_request(&message.payload).await;
                    answer(&client, message.reply, &reply).await;
                });
                continue;
            }
            "console" => {
                console_tail(&client, &boards, message).await;
                continue;
            }
            "drain" => {
                // The dispatcher gives it nothing new; what it was given
                // before it read this still runs.
                presence.drain();
                OperatorReply {
                    ok: true,
                    message: format!("worker {id} takes nothing new and finishes what it runs"),
                }
            }
            "readmit" => readmit(&presence, &boot_health, &message.payload),
            other => OperatorReply {
                ok: false,
                message: format!("unknown request {other:?}"),
            },
        };
        answer(&client, message.reply, &reply).await;
    }
}

async fn answer(
    client: &async_nats::Client,
    to: Option<async_nats::Subject>,
    reply: &OperatorReply,
) {
    if let Some(to) = to {
        let body = serde_json::to_vec(reply).expect("a reply serializes");
        let _ = client.publish(to, body.into()).await;
    }
}

/// The board's ring as the raw reply; for a board this worker does not
/// have, an empty body with the reason in a header.
async fn console_tail(client: &async_nats::Client, boards: &Boards, message: async_nats::Message) {
    let Some(to) = message.reply else {
        return;
    };
    match boards.console_tail(&message.payload) {
        Ok(bytes) => {
            let _ = client.publish(to, bytes.into()).await;
        }
        Err(why) => {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(ERROR_HEADER, why.as_str());
            let _ = client
                .publish_with_headers(to, headers, Default::default())
                .await;
        }
    }
}

fn readmit(presence: &Presence, boot_health: &BootHealth, payload: &[u8]) -> OperatorReply {
    let profile = serde_json::from_slice::<ReadmitRequest>(payload)
        .map_err(|e| e.to_string())
        .and_then(|r| ProfileName::parse(r.profile).map_err(|e| e.to_string()));
    let profile = match profile {
        Ok(profile) => profile,
        Err(e) => {
            return OperatorReply {
                ok: false,
                message: format!("a readmit names a profile: {e}"),
            }
        }
    };
    if !presence.snapshot().profiles.contains(&profile) {
        return OperatorReply {
            ok: false,
            message: format!("this worker has no profile {profile}"),
        };
    }
    boot_health.readmitted(&profile);
    OperatorReply {
        ok: true,
        message: format!("profile {profile} takes queues again"),
    }
}
