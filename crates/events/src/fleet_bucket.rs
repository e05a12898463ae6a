//! The registry bucket (JetStream KV, `<prefix>_fleet`): each worker puts
//! its `WorkerRecord` under its id on every heartbeat, and its tombstone
//! (`left_ms`) when it stops cleanly. One value per key; entries are kept a
//! week after their last put, so the gateway can tell which capabilities
//! were seen within `--worker-memory-hours` (at most a week) while
//! liveness comes from `last_seen_ms`, `left_ms` and the heartbeat.

use std::time::Duration;

use async_nats::jetstream::{self, kv};

use crate::{ArenaNames, StreamLimits, WorkerRecord};

/// How long a silent worker's record stays in the bucket.
pub const FLEET_MEMORY: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn fleet_bucket_config(names: &ArenaNames, limits: &StreamLimits) -> kv::Config {
    kv::Config {
        bucket: names.fleet_bucket(),
        description: "TestArena worker registry: one record per worker".into(),
        history: 1,
        max_age: FLEET_MEMORY,
        storage: jetstream::stream::StorageType::File,
        num_replicas: limits.replicas,
        ..Default::default()
    }
}

/// Creates the bucket, or brings an existing one to this config.
pub async fn ensure_fleet_bucket(
    js: &jetstream::Context,
    names: &ArenaNames,
    limits: &StreamLimits,
) -> Result<(), async_nats::Error> {
    let config = fleet_bucket_config(names, limits);
    if let Err(create_error) = js.create_key_value(config.clone()).await {
        if js.update_key_value(config).await.is_err() {
            return Err(create_error.into());
        }
    }
    Ok(())
}

/// One change the registry's watch shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryChange {
    /// A worker's record was put (a heartbeat, a change, its tombstone).
    Seen(Box<WorkerRecord>),
    /// The key is gone (deleted by an operator, or expired): the worker left.
    Left(String),
}

impl RegistryChange {
    /// `None` for a record that does not parse (said in a warning).
    pub fn of(entry: &kv::Entry) -> Option<Self> {
        match entry.operation {
            kv::Operation::Put => match serde_json::from_slice::<WorkerRecord>(&entry.value) {
                Ok(record) => Some(Self::Seen(Box::new(record))),
                Err(e) => {
                    tracing::warn!(key = %entry.key, error = %e, "an unreadable worker record");
                    None
                }
            },
            kv::Operation::Delete | kv::Operation::Purge => Some(Self::Left(entry.key.clone())),
        }
    }
}

/// Every record in the registry bucket, then each change.
pub async fn watch_registry(
    js: &jetstream::Context,
    names: &ArenaNames,
) -> Result<kv::Watch, async_nats::Error> {
    let bucket = js
        .get_key_value(names.fleet_bucket())
        .await
        .map_err(|e| format!("opening the registry bucket: {e}"))?;
    let watch = bucket
        .watch_with_history(">")
        .await
        .map_err(|e| format!("watching the registry: {e}"))?;
    Ok(watch)
}

/// The stream behind the bucket, for `streams_exist`.
pub fn fleet_stream(names: &ArenaNames) -> String {
    format!("KV_{}", names.fleet_bucket())
}
