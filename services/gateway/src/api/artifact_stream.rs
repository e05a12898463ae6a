//! An artifact's bytes as an HTTP body stream, read from the artifacts
//! bucket's stream with an ordered pull consumer that asks for at most
//! [`CHUNKS_IN_FLIGHT`] chunks at a time: the gateway holds a few chunks,
//! never the object, however slow the client (async-nats's own object
//! reader is a push consumer the server fills as fast as it can). The
//! SHA-256 the bucket recorded is checked when a whole object was read: a
//! mismatch ends the body with an error instead of completing it.

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::object_store::{InfoErrorKind, ObjectInfo};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use testarena_events::ArenaNames;

/// Chunks asked for per pull: 4 × 256 KiB in flight.
const CHUNKS_IN_FLIGHT: i64 = 4;

#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("no such object")]
    NotFound,
    #[error("{0}")]
    Unavailable(String),
}

/// Where one artifact lives, and how much of it to send.
pub(crate) struct ObjectRead {
    pub info: ObjectInfo,
    /// Bytes to drop first (a `Range` start).
    pub skip: u64,
    /// Bytes to send after them.
    pub len: u64,
}

/// The object's metadata, or why there is none.
pub(crate) async fn object_info(
    js: &async_nats::jetstream::Context,
    names: &ArenaNames,
    object: &str,
) -> Result<ObjectInfo, OpenError> {
    let bucket = js
        .get_object_store(&names.artifacts_bucket)
        .await
        .map_err(|e| OpenError::Unavailable(format!("the artifacts bucket: {e}")))?;
    match bucket.info(object).await {
        Ok(info) if info.deleted => Err(OpenError::NotFound),
        Ok(info) => Ok(info),
        Err(e) if e.kind() == InfoErrorKind::NotFound => Err(OpenError::NotFound),
        Err(e) => Err(OpenError::Unavailable(format!(
            "reading {object}'s metadata: {e}"
        ))),
    }
}

/// The bytes `read` asks for, as a stream of chunks for the HTTP body.
pub(crate) async fn chunks(
    js: &async_nats::jetstream::Context,
    names: &ArenaNames,
    read: ObjectRead,
) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static, OpenError> {
    let unavailable =
        |e: &dyn std::fmt::Display| OpenError::Unavailable(format!("reading the artifact: {e}"));
    let stream = js
        .get_stream_no_info(names.artifacts_stream())
        .await
        .map_err(|e| unavailable(&e))?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: format!("$O.{}.C.{}", names.artifacts_bucket, read.info.nuid),
            deliver_policy: DeliverPolicy::All,
            max_batch: CHUNKS_IN_FLIGHT,
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable(&e))?;
    let messages = if read.info.size == 0 {
        None
    } else {
        Some(consumer.messages().await.map_err(|e| unavailable(&e))?)
    };
    let state = Reading {
        whole: read.skip == 0 && read.len == read.info.size as u64,
        digest: read.info.digest.clone(),
        size: read.info.size as u64,
        position: 0,
        start: read.skip,
        end: read.skip + read.len,
        hasher: Sha256::new(),
        messages,
    };
    Ok(futures_util::stream::try_unfold(state, Reading::next))
}

/// Which bytes of the chunk at object offsets `from..to` fall in the
/// wanted `start..end`, as a range of the chunk; `None` when none do.
fn part_of_chunk(from: u64, to: u64, start: u64, end: u64) -> Option<std::ops::Range<usize>> {
    let lo = start.clamp(from, to) - from;
    let hi = end.clamp(from, to) - from;
    (hi > lo).then_some(lo as usize..hi as usize)
}

/// Where a read is in the object.
struct Reading {
    whole: bool,
    digest: Option<String>,
    size: u64,
    /// Bytes of the object seen so far.
    position: u64,
    start: u64,
    end: u64,
    hasher: Sha256,
    messages: Option<pull::Ordered>,
}

impl Reading {
    /// The next piece of the body, or `None` after the last.
    async fn next(mut self) -> std::io::Result<Option<(Bytes, Self)>> {
        loop {
            if self.position >= self.end {
                return Ok(None);
            }
            let Some(messages) = self.messages.as_mut() else {
                return Ok(None);
            };
            let chunk = match messages.next().await {
                Some(Ok(message)) => message.payload.clone(),
                Some(Err(e)) => {
                    return Err(std::io::Error::other(format!("reading the artifact: {e}")))
                }
                None => return Err(std::io::Error::other("the artifact ended early")),
            };
            let (from, to) = (self.position, self.position + chunk.len() as u64);
            self.position = to;
            if self.whole {
                self.hasher.update(&chunk);
                if to >= self.size {
                    self.check_digest()?;
                }
            }
            if let Some(part) = part_of_chunk(from, to, self.start, self.end) {
                return Ok(Some((chunk.slice(part), self)));
            }
        }
    }

    fn check_digest(&mut self) -> std::io::Result<()> {
        let digest = std::mem::take(&mut self.hasher).finalize();
        let read = format!(
            "SHA-256={}",
            base64::engine::general_purpose::URL_SAFE.encode(digest)
        );
        match &self.digest {
            Some(stored) if *stored != read => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the artifact's bytes do not match its digest {stored}"),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::part_of_chunk;

    #[test]
    fn a_range_takes_only_its_bytes_of_each_chunk() {
        // Chunks of 10 bytes; the range 15..32.
        assert_eq!(part_of_chunk(0, 10, 15, 32), None, "before it");
        assert_eq!(part_of_chunk(10, 20, 15, 32), Some(5..10), "its start");
        assert_eq!(part_of_chunk(20, 30, 15, 32), Some(0..10), "inside");
        assert_eq!(part_of_chunk(30, 40, 15, 32), Some(0..2), "its end");
        assert_eq!(part_of_chunk(40, 44, 15, 32), None, "after it");
        assert_eq!(part_of_chunk(0, 10, 0, 10), Some(0..10), "the whole");
        assert_eq!(part_of_chunk(0, 10, 3, 4), Some(3..4), "one byte");
    }
}
