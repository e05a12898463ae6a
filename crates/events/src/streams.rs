//! The two streams, the registry bucket and the artifacts bucket every service needs. Creating or changing them is an
//! admin step (`testarena init`, or `testarena up` with its private NATS):
//! services only wait for them to exist, and create them only where their
//! NATS user may (a server without users), so no start order is required
//! there either.

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
    /// How long an artifact is kept (the bucket's `max_age`).
    pub artifact_max_age: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            log_max_age: Duration::from_secs(7 * 24 * 3600),
            log_max_bytes: 1 << 30,
            replicas: 1,
            artifact_max_age: Duration::from_secs(30 * 24 * 3600),
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
        subjects: names.events_stream_subjects(),
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
    let streams = [
        events,
        logs,
        artifacts_stream(names, limits),
        builds_stream(names, limits),
        snapshots_stream(names, limits),
    ];
    for config in streams {
        // Create first: on a cluster, an update of a stream that does not
        // exist yet goes unanswered until it times out (no stream leader to
        // answer), while a create is answered by the meta leader. A create
        // of an existing stream with another config fails; then update it.
        if let Err(create_error) = js.create_stream(config.clone()).await {
            if js.update_stream(config).await.is_err() {
                return Err(create_error.into());
            }
        }
    }
    crate::fleet_bucket::ensure_fleet_bucket(js, names, limits).await?;
    crate::delivery_record::ensure_notifications_bucket(js, names, limits).await
}

/// The stream of the artifacts Object Store bucket, as async-nats's
/// `create_object_store` would make it, written out so that `init` can
/// also update its `max_age` (retention is the bucket's own: JetStream
/// drops expired chunks itself, no sweep to run or to miss).
fn artifacts_stream(names: &ArenaNames, limits: &StreamLimits) -> stream::Config {
    stream::Config {
        name: names.artifacts_stream(),
        description: Some("TestArena artifacts (Object Store)".into()),
        max_age: limits.artifact_max_age,
        ..object_store_stream(&names.artifacts_bucket, limits)
    }
}

/// The stream of the shared build cache bucket. No byte or age bound of
/// its own: a stream discards by message, so a bound there could cut an
/// object in two. Workers evict whole builds, least recently used first
/// (`--build-cache-bucket-gb`).
fn builds_stream(names: &ArenaNames, limits: &StreamLimits) -> stream::Config {
    stream::Config {
        name: names.builds_stream(),
        description: Some("TestArena build outputs shared by worker hosts (Object Store)".into()),
        ..object_store_stream(&names.builds_bucket, limits)
    }
}

/// The stream of the view snapshots' bucket: no bound of its own either;
/// the projector keeps the newest few and deletes the rest.
fn snapshots_stream(names: &ArenaNames, limits: &StreamLimits) -> stream::Config {
    stream::Config {
        name: names.snapshots_stream(),
        description: Some(
            "TestArena view snapshots, each with its stream sequences (Object Store)".into(),
        ),
        ..object_store_stream(&names.snapshots_bucket, limits)
    }
}

fn object_store_stream(bucket: &str, limits: &StreamLimits) -> stream::Config {
    stream::Config {
        subjects: vec![format!("$O.{bucket}.C.>"), format!("$O.{bucket}.M.>")],
        storage: stream::StorageType::File,
        num_replicas: limits.replicas,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        allow_direct: true,
        ..Default::default()
    }
}

/// Whether both streams, the registry bucket and the artifacts bucket
/// exist (a stream-info request each: a right every service's NATS user
/// has).
pub async fn streams_exist(js: &jetstream::Context, names: &ArenaNames) -> bool {
    let fleet = crate::fleet_bucket::fleet_stream(names);
    let (events, logs, fleet, artifacts) = tokio::join!(
        js.get_stream(&names.events_stream),
        js.get_stream(&names.logs_stream),
        js.get_stream(&fleet),
        js.get_stream(names.artifacts_stream())
    );
    events.is_ok() && logs.is_ok() && fleet.is_ok() && artifacts.is_ok()
}

/// Returns once both streams and the artifacts bucket exist: as they are if they do, else created
/// with `limits` where this NATS user may. Retries with a backoff up to
/// 2 s: NATS may still be starting, a cluster electing its leader, or the
/// admin not have run `testarena init` yet. Callers race this against their
/// shutdown signal.
pub async fn await_streams(js: &jetstream::Context, names: &ArenaNames, limits: &StreamLimits) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if streams_exist(js, names).await {
            return;
        }
        match ensure_streams(js, names, limits).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "the streams {} and {} or the artifacts bucket {} do not exist yet, and this NATS user \
                     could not create them; waiting (an admin creates them with `testarena init`)",
                    names.events_stream,
                    names.logs_stream,
                    names.artifacts_bucket
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
