//! The build cache shared between worker hosts: each build's outputs as
//! one object of the JetStream Object Store bucket `<PREFIX>_BUILDS`,
//! named by its key, so a worker on another host restores a build it never
//! ran. The bucket's stream has no byte bound (it would discard by chunk
//! and could cut an object in two): after each put the worker evicts whole
//! builds, least recently used first, to `--build-cache-bucket-gb`. Use is
//! recorded in each object's metadata (`last_used_ms`).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::object_store::{InfoErrorKind, ObjectInfo, ObjectMetadata, ObjectStore};
use async_nats::jetstream::{self};
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use futures_util::StreamExt;
use testarena_events::{now_millis, ArenaNames};

use crate::build_cache::{to_evict, Bounds, BuildKey, Entry};

/// As the artifacts' chunks (artifact_upload.rs).
const CHUNK_BYTES: usize = 256 << 10;
const LAST_USED: &str = "last_used_ms";

#[derive(Debug, thiserror::Error)]
pub(crate) enum BucketError {
    #[error("the shared build cache bucket {bucket} cannot be opened: {why}")]
    Open { bucket: String, why: String },
    #[error("reading build {key} from the bucket {bucket}: {why}")]
    Get {
        bucket: String,
        key: String,
        why: String,
    },
    #[error("putting build {key} into the bucket {bucket}: {why}")]
    Put {
        bucket: String,
        key: String,
        why: String,
    },
    #[error("build {key} is {bytes} bytes, over the bucket's bound of {max_bytes} (--build-cache-bucket-gb)")]
    TooLarge {
        key: String,
        bytes: u64,
        max_bytes: u64,
    },
    #[error("the archive of build {key}: {source}")]
    Archive { key: String, source: std::io::Error },
}

/// What putting a build did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Uploaded {
    /// Put; `evicted` (keys) made room for it.
    New { evicted: Vec<String> },
    /// Another host put it first.
    AlreadyThere,
}

/// This worker's handle on the shared bucket.
pub(crate) struct BuildBucket {
    js: jetstream::Context,
    bucket: String,
    max_bytes: u64,
    /// Opened at first use (a stream-info request), then kept.
    store: tokio::sync::OnceCell<ObjectStore>,
}

impl BuildBucket {
    /// `None` when the bound is 0: builds stay on each host.
    pub(crate) fn new(js: jetstream::Context, names: &ArenaNames, max_bytes: u64) -> Option<Self> {
        (max_bytes > 0).then(|| Self {
            js,
            bucket: names.builds_bucket.clone(),
            max_bytes,
            store: tokio::sync::OnceCell::new(),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.bucket
    }

    async fn open(&self) -> Result<&ObjectStore, BucketError> {
        self.store
            .get_or_try_init(|| self.js.get_object_store(&self.bucket))
            .await
            .map_err(|e| BucketError::Open {
                bucket: self.bucket.clone(),
                why: e.to_string(),
            })
    }

    /// Downloads build `key` into the file `archive`; `false` when the
    /// bucket does not hold it. The object's digest is checked as it is read.
    pub(crate) async fn fetch(&self, key: &BuildKey, archive: &Path) -> Result<bool, BucketError> {
        let store = self.open().await?;
        let get_error = |why: String| BucketError::Get {
            bucket: self.bucket.clone(),
            key: key.short().to_owned(),
            why,
        };
        let info = match store.info(key.as_str()).await {
            Ok(info) => info,
            Err(e) if e.kind() == InfoErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(get_error(e.to_string())),
        };
        let mut object = store
            .get(key.as_str())
            .await
            .map_err(|e| get_error(e.to_string()))?;
        let mut file = tokio::fs::File::create(archive)
            .await
            .map_err(|e| get_error(e.to_string()))?;
        let read = tokio::io::copy(&mut object, &mut file)
            .await
            .map_err(|e| get_error(e.to_string()))?;
        if read != info.size as u64 {
            return Err(get_error(format!("{read} of {} bytes read", info.size)));
        }
        self.touch(info).await;
        Ok(true)
    }

    /// Puts the file `archive` as build `key`, then evicts the least
    /// recently used builds past the bound.
    pub(crate) async fn upload(
        &self,
        key: &BuildKey,
        archive: &Path,
    ) -> Result<Uploaded, BucketError> {
        let store = self.open().await?;
        if let Ok(info) = store.info(key.as_str()).await {
            self.touch(info).await;
            return Ok(Uploaded::AlreadyThere);
        }
        let archive_error = |source| BucketError::Archive {
            key: key.short().to_owned(),
            source,
        };
        let bytes = std::fs::metadata(archive).map_err(archive_error)?.len();
        if bytes > self.max_bytes {
            let (key, max_bytes) = (key.short().to_owned(), self.max_bytes);
            return Err(BucketError::TooLarge {
                key,
                bytes,
                max_bytes,
            });
        }
        let mut file = tokio::fs::File::open(archive)
            .await
            .map_err(archive_error)?;
        let meta = ObjectMetadata {
            name: key.as_str().to_owned(),
            chunk_size: Some(CHUNK_BYTES),
            metadata: used_now(),
            ..Default::default()
        };
        store
            .put(meta, &mut file)
            .await
            .map_err(|e| BucketError::Put {
                bucket: self.bucket.clone(),
                key: key.short().to_owned(),
                why: e.to_string(),
            })?;
        let evicted = self.evict(store).await;
        Ok(Uploaded::New { evicted })
    }

    /// Records a use of the object: its `last_used_ms` is now, in a new
    /// metadata message that rolls up the old one (async-nats's
    /// `update_metadata` keeps only name and description). A failure only
    /// makes the build look older to the eviction.
    async fn touch(&self, mut info: ObjectInfo) {
        info.metadata.extend(used_now());
        let subject = format!("$O.{}.M.{}", self.bucket, URL_SAFE.encode(&info.name));
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_ROLLUP, "sub");
        let published = match serde_json::to_vec(&info) {
            Ok(payload) => self
                .js
                .publish_with_headers(subject, headers, payload.into())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let acked = match published {
            Ok(ack) => ack.await.map(drop).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(e) = acked {
            tracing::warn!(object = %info.name, error = %e, "could not record a use of a shared build");
        }
    }

    /// Removes whole builds, least recently used first, until the rest
    /// fits the bound; the keys removed. Another host evicting at the same
    /// time may remove one first: that is not an error.
    async fn evict(&self, store: &ObjectStore) -> Vec<String> {
        let entries = match listed(store).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(bucket = %self.bucket, error = %e, "could not list the shared builds");
                return Vec::new();
            }
        };
        let bounds = Bounds {
            max_bytes: self.max_bytes,
            max_age: None,
        };
        let chosen = to_evict(&entries, bounds, SystemTime::now());
        for key in &chosen {
            if let Err(e) = store.delete(key).await {
                tracing::info!(object = %key, error = %e, "a shared build was not deleted");
            }
        }
        chosen
    }
}

/// Every build in the bucket as the eviction sees it.
async fn listed(store: &ObjectStore) -> Result<Vec<Entry>, async_nats::Error> {
    let mut list = store.list().await?;
    let mut entries = Vec::new();
    while let Some(info) = list.next().await {
        let info = info?;
        let used_ms = info.metadata.get(LAST_USED).and_then(|v| v.parse().ok());
        let last_use = UNIX_EPOCH + Duration::from_millis(used_ms.unwrap_or(0));
        entries.push(Entry {
            key: info.name,
            bytes: info.size as u64,
            last_use,
            in_use: false,
        });
    }
    Ok(entries)
}

fn used_now() -> HashMap<String, String> {
    HashMap::from([(LAST_USED.to_owned(), now_millis().to_string())])
}
