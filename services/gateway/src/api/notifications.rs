//! `GET /api/notifications`: the notifier's recent deliveries (commit
//! statuses, webhooks, Slack messages), newest attempt first, each with
//! its state and attempts, read from the `<prefix>_notifications` bucket
//! the notifier puts a record in after every attempt.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{payload::Json, OpenApi};
use testarena_events::{DeliveryRecord, NotificationList};

use super::error::ApiError;
use super::ApiTags;
use crate::state::AppState;

/// Deliveries listed when `limit` is not given.
const DEFAULT_LIMIT: u32 = 100;
/// How long reading the bucket may take before the answer is a 503.
const READ_LIMIT: Duration = Duration::from_secs(5);

pub(crate) struct NotificationsApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// The notifier's recent deliveries, newest attempt first: target (no
    /// query or key), state (`pending`, `delivered`, `failed`,
    /// `superseded`), attempts and the last answer. Kept a week
    #[oai(path = "/notifications", method = "get")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
    ) -> Result<Json<NotificationList>, ApiError> {
        let mut deliveries = tokio::time::timeout(READ_LIMIT, read_all(&state))
            .await
            .map_err(|_| {
                ApiError::unavailable("the notifications bucket did not answer in 5 s")
            })??;
        newest_first(&mut deliveries, limit.0.unwrap_or(DEFAULT_LIMIT) as usize);
        Ok(Json(NotificationList { deliveries }))
    }
}

/// Every record in the bucket (one per delivery: it keeps one value per
/// key), through one watch that ends at the bucket's current end. A
/// bucket not created yet (an older `init`) holds none.
async fn read_all(state: &AppState) -> Result<Vec<DeliveryRecord>, ApiError> {
    let Ok(bucket) = state
        .js
        .get_key_value(state.names.notifications_bucket())
        .await
    else {
        return Ok(Vec::new());
    };
    let held = bucket
        .status()
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the notifications bucket: {e}")))?
        .values();
    if held == 0 {
        return Ok(Vec::new());
    }
    let mut watch = bucket
        .watch_with_history(">")
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the notifications bucket: {e}")))?;
    let mut records = Vec::new();
    while let Some(entry) = watch.next().await {
        let entry = entry
            .map_err(|e| ApiError::unavailable(format!("reading the notifications bucket: {e}")))?;
        if let Ok(record) = serde_json::from_slice::<DeliveryRecord>(&entry.value) {
            records.push(record);
        }
        if entry.delta == 0 {
            break;
        }
    }
    Ok(records)
}

/// Pure: the `limit` records attempted last, newest first (RFC 3339 UTC
/// times sort as text).
fn newest_first(records: &mut Vec<DeliveryRecord>, limit: usize) {
    records.sort_by(|a, b| b.last_at.cmp(&a.last_at).then_with(|| b.id.cmp(&a.id)));
    records.truncate(limit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use testarena_events::{DeliveryKind, DeliveryState};

    fn record(id: &str, last_at: &str) -> DeliveryRecord {
        DeliveryRecord {
            id: id.into(),
            kind: DeliveryKind::Webhook,
            target: "https://ci.example.com/hook".into(),
            about: vec!["failed".into()],
            queue_id: Some("q".into()),
            bisect_id: None,
            state: DeliveryState::Delivered,
            attempts: 1,
            last_status: Some(200),
            last_error: None,
            first_at: last_at.into(),
            last_at: last_at.into(),
        }
    }

    #[test]
    fn the_newest_attempts_come_first_up_to_the_limit() {
        let mut records = vec![
            record("a", "2026-01-01T00:00:01Z"),
            record("b", "2026-01-01T00:00:03Z"),
            record("c", "2026-01-01T00:00:02Z"),
        ];
        newest_first(&mut records, 2);
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }
}
