//! Creates (or updates) the two streams every service needs. Each service
//! calls this at start, so no start order between them is required.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::ArenaNames;

/// Retention of the logs stream and replication of both streams.
#[derive(Debug, Clone)]
pub struct StreamLimits {
    pub log_max_age: Duration,
    pub log_max_bytes: i64,
    /// 1 for a single server, 3 or 5 on a cluster.
    pub replicas: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            log_max_age: Duration::from_secs(7 * 24 * 3600),
            log_max_bytes: 1 << 30,
            replicas: 1,
        }
    }
}

pub async fn ensure_streams(
    js: &jetstream::Context,
    names: &ArenaNames,
    limits: &StreamLimits,
) -> Result<(), async_nats::Error> {
    // The events stream is the history: kept until deleted by an operator.
    let events = stream::Config {
        name: names.events_stream.clone(),
        description: Some("TestArena queue events (the source of truth)".into()),
        subjects: vec![names.all_events_filter()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: limits.replicas,
        // Lets a retried submit (same Nats-Msg-Id) be a no-op.
        duplicate_window: Duration::from_secs(120),
        // Direct gets answer "last event of kind X for queue Y" cheaply.
        allow_direct: true,
        ..Default::default()
    };
    let logs = stream::Config {
        name: names.logs_stream.clone(),
        description: Some("TestArena queue log batches".into()),
        subjects: vec![names.all_logs_filter()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: limits.replicas,
        max_age: limits.log_max_age,
        max_bytes: limits.log_max_bytes,
        allow_direct: true,
        ..Default::default()
    };
    for config in [events, logs] {
        js.create_or_update_stream(config).await?;
    }
    Ok(())
}
