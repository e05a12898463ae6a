//! What the notifier records of each delivery (a commit status, a webhook,
//! a Slack message): one `DeliveryRecord` per delivery id in the KV bucket
//! `<prefix>_notifications`, put by the notifier after every attempt and
//! listed by the gateway (`GET /api/notifications`). The bucket, not the
//! events stream, holds them: they are the notifier's working state (read
//! back before each attempt so a redelivered event sends nothing twice),
//! not history the views fold, and they expire on their own.
//!
//! A record never holds a token or a secret: `target` is the URL without
//! its query, and a Slack URL (its path is its key) only as its host.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use serde::{Deserialize, Serialize};

use crate::{ArenaNames, StreamLimits};

/// How long a delivery's record is kept after its last attempt.
pub const DELIVERY_MEMORY: Duration = Duration::from_secs(7 * 24 * 3600);

/// One delivery and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct DeliveryRecord {
    /// `<events-stream sequence>-<target>`: the same event and target always
    /// make the same id (also sent as `X-TestArena-Delivery`).
    pub id: String,
    pub kind: DeliveryKind,
    /// Where it goes, without query or key (a Slack URL shows its host only).
    pub target: String,
    /// What it says: a status's state (`pending`, `success`, …) or the
    /// rule's events that fired (`failed`, `new_failure`).
    pub about: Vec<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub queue_id: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub bisect_id: Option<String>,
    pub state: DeliveryState,
    /// HTTP requests made so far.
    pub attempts: u32,
    /// The last answer's HTTP status, when one came.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub last_status: Option<u16>,
    /// Why the last attempt failed (a connection error, the answer's status
    /// line); `null` once delivered.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub last_error: Option<String>,
    /// RFC 3339, UTC: the first attempt and the last.
    pub first_at: String,
    pub last_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum DeliveryKind {
    /// A commit status (GitHub, Gitea or GitLab API).
    Status,
    /// A signed JSON body to a `[[notify]]` rule's `webhook`.
    Webhook,
    /// A message to a `[[notify]]` rule's Slack incoming webhook.
    Slack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum DeliveryState {
    /// Not yet accepted; retried with backoff for 24 hours.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: refused for good (a 4xx other than 408 and 429), or 24
    /// hours of retries passed.
    Failed,
    /// A commit status left unsent because a later state of the same
    /// queue was delivered first.
    Superseded,
}

impl DeliveryState {
    /// Whether nothing more will be sent for this delivery.
    pub fn is_settled(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// `GET /api/notifications`: the newest deliveries first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct NotificationList {
    pub deliveries: Vec<DeliveryRecord>,
}

pub fn notifications_bucket_config(names: &ArenaNames, limits: &StreamLimits) -> kv::Config {
    kv::Config {
        bucket: names.notifications_bucket(),
        description: "TestArena notifier: one record per delivery".into(),
        history: 1,
        max_age: DELIVERY_MEMORY,
        storage: jetstream::stream::StorageType::File,
        num_replicas: limits.replicas,
        ..Default::default()
    }
}

/// Creates the bucket, or brings an existing one to this config.
pub async fn ensure_notifications_bucket(
    js: &jetstream::Context,
    names: &ArenaNames,
    limits: &StreamLimits,
) -> Result<(), async_nats::Error> {
    let config = notifications_bucket_config(names, limits);
    if let Err(create_error) = js.create_key_value(config.clone()).await {
        if js.update_key_value(config).await.is_err() {
            return Err(create_error.into());
        }
    }
    Ok(())
}
