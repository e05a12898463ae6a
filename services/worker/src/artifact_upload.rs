//! Stores one run's artifacts in the JetStream Object Store bucket and says
//! so with an `artifact_stored` event each, so the list is a projection and
//! a gateway on another host needs no shared disk. The SHA-256 is computed
//! from the bytes read and must equal the digest the bucket recorded; a
//! file that cannot be stored, or is over a cap, is skipped with a log
//! line: artifacts never fail a queue.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use async_nats::jetstream::{
    self,
    object_store::{ObjectMetadata, ObjectStore},
};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use testarena_events::{ArenaNames, ArtifactRecord, EventBody, TaskId};
use tokio::io::{AsyncRead, AsyncReadExt as _, ReadBuf};

use crate::artifact_caps::{Admission, ArtifactCaps, QueueBudget};
use crate::artifact_files::Candidate;
use crate::emitter::{EmitError, Emitter};
use crate::log_batcher::LogSink;
use crate::stop_signal::StopSignal;

/// Chunks of 256 KiB: 2× fewer acknowledged round trips than the library's
/// 128 KiB default (sequential acknowledged publishes from nats-py on
/// loopback: 430 MB/s at 128 KiB, 477 at 256, 534 at 512), while a gateway
/// reading four at a time grows by 7 MB streaming 1 GiB (14 MB at 512 KiB).
const CHUNK_BYTES: usize = 256 << 10;

/// One run's way into the artifacts bucket, with its byte budget.
pub(crate) struct ArtifactSink {
    js: jetstream::Context,
    names: ArenaNames,
    budget: Mutex<QueueBudget>,
    /// A stopped run (cancelled, deleted, shutting down) stores no more.
    stop: StopSignal,
    /// Opened at the first file (a stream-info request), then kept.
    bucket: tokio::sync::OnceCell<ObjectStore>,
}

#[derive(Debug, thiserror::Error)]
enum StoreError {
    #[error("the artifacts bucket cannot be opened: {0}")]
    Bucket(String),
    #[error("reading {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Put(String),
    #[error("the bucket recorded {stored} for {read} bytes read (sha256 {sha256})")]
    Mismatch {
        stored: String,
        read: u64,
        sha256: String,
    },
}

impl ArtifactSink {
    pub(crate) fn new(
        js: jetstream::Context,
        names: ArenaNames,
        caps: ArtifactCaps,
        stop: StopSignal,
    ) -> Self {
        Self {
            js,
            names,
            budget: Mutex::new(QueueBudget::new(caps)),
            stop,
            bucket: tokio::sync::OnceCell::new(),
        }
    }

    /// Stores each file (within the caps), in order, and emits its event.
    /// Only an event that cannot be stored is an error: it ends the run.
    pub(crate) async fn store_all(
        &self,
        emitter: &Emitter,
        log: &LogSink,
        source: &str,
        task: Option<&TaskId>,
        files: Vec<Candidate>,
    ) -> Result<(), EmitError> {
        if files.is_empty() {
            return Ok(());
        }
        let opened = self
            .bucket
            .get_or_try_init(|| self.js.get_object_store(&self.names.artifacts_bucket))
            .await;
        let bucket = match opened {
            Ok(bucket) => bucket,
            Err(e) => {
                let error = StoreError::Bucket(e.to_string());
                log.system(source, format!("artifacts not stored: {error}"))
                    .await;
                return Ok(());
            }
        };
        for file in files {
            if self.stop.token().is_cancelled() {
                return Ok(());
            }
            self.store_one(bucket, emitter, log, source, task, file)
                .await?;
        }
        Ok(())
    }

    /// One file: skipped over a cap, else put and announced; a put that
    /// fails is said in the log and gives its bytes back to the budget.
    async fn store_one(
        &self,
        bucket: &ObjectStore,
        emitter: &Emitter,
        log: &LogSink,
        source: &str,
        task: Option<&TaskId>,
        file: Candidate,
    ) -> Result<(), EmitError> {
        if let Admission::Skip(line) = self.admit(&file) {
            tracing::info!(artifact = %file.name, "{line}");
            log.system(source, line).await;
            return Ok(());
        }
        let object = self.names.artifact_object(&emitter.queue_id, &file.name);
        match put(bucket, &object, &file).await {
            Ok((size, sha256)) => {
                let artifact = ArtifactRecord {
                    name: file.name,
                    size,
                    sha256,
                    task: task.cloned(),
                };
                emitter
                    .emit(EventBody::ArtifactStored {
                        attempt: emitter.attempt,
                        artifact,
                        object,
                    })
                    .await?;
            }
            Err(error) => {
                self.release(file.size);
                tracing::warn!(artifact = %file.name, %error, "artifact not stored");
                let line = format!("artifact {} not stored: {error}", file.name);
                log.system(source, line).await;
            }
        }
        Ok(())
    }

    fn admit(&self, file: &Candidate) -> Admission {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        budget.admit(&file.name, file.size)
    }

    fn release(&self, size: u64) {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        budget.release(size);
    }
}

/// Puts one file, read at most to the size it was admitted with, and
/// checks the bucket's digest against the bytes read.
async fn put(
    bucket: &ObjectStore,
    object: &str,
    file: &Candidate,
) -> Result<(u64, String), StoreError> {
    let opened = tokio::fs::File::open(&file.path)
        .await
        .map_err(|source| StoreError::Open {
            path: file.path.display().to_string(),
            source,
        })?;
    let mut reader = Hashing::new(opened.take(file.size));
    let meta = ObjectMetadata {
        name: object.to_owned(),
        chunk_size: Some(CHUNK_BYTES),
        ..Default::default()
    };
    let info = bucket
        .put(meta, &mut reader)
        .await
        .map_err(|e| StoreError::Put(e.to_string()))?;
    let (read, digest) = reader.finish();
    let expected = format!(
        "SHA-256={}",
        base64::engine::general_purpose::URL_SAFE.encode(digest)
    );
    let sha256 = hex::encode(digest);
    match info.digest {
        Some(stored) if stored == expected && info.size as u64 == read => Ok((read, sha256)),
        stored => Err(StoreError::Mismatch {
            stored: stored.unwrap_or_else(|| "no digest".into()),
            read,
            sha256,
        }),
    }
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    fn finish(self) -> (u64, [u8; 32]) {
        (self.read, self.hasher.finalize().into())
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let new = &buf.filled()[before..];
            self.hasher.update(new);
            self.read += new.len() as u64;
        }
        polled
    }
}
