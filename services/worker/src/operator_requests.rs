//! Answers the gateway's requests to this worker (core NATS request/reply
//! on `<prefix>.fleet.<id>.drain` and `.readmit`): an operator's drain,
//! and taking a quarantined or drained profile back (its boot failure
//! count starts over).

use futures_util::StreamExt;
use testarena_events::{ArenaNames, OperatorReply, ProfileName, ReadmitRequest};
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::boot_health::BootHealth;
use crate::presence::Presence;

pub(crate) async fn listen(
    client: async_nats::Client,
    names: ArenaNames,
    presence: Presence,
    boot_health: Arc<BootHealth>,
    shutdown: CancellationToken,
) -> Result<(), async_nats::SubscribeError> {
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
        let action = message.subject.rsplit('.').next().unwrap_or_default();
        let reply = match action {
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
        if let Some(to) = message.reply {
            let body = serde_json::to_vec(&reply).expect("a reply serializes");
            let _ = client.publish(to, body.into()).await;
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
