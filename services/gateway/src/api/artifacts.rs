//! A queue's artifacts: the list (from its view, a projection of the
//! `artifact_stored` events) and each file's bytes, streamed from the
//! JetStream Object Store chunk by chunk, never held whole: the gateway's
//! memory does not grow with the file. A `Range` skips the chunks before
//! its start (the bucket can only be read from the beginning).

use std::sync::Arc;

use async_nats::jetstream::object_store::{GetErrorKind, Object};
use poem::{web::Data, Body};
use poem_openapi::{
    param::{Header, Path},
    payload::{Binary, Json},
    ApiResponse, OpenApi,
};
use testarena_events::QueueId;
use tokio::io::AsyncReadExt as _;

use super::byte_range::ByteRange;
use super::error::{ApiError, ErrorBody};
use super::model::{ArtifactList, ArtifactView};
use super::queries::find;
use super::ApiTags;
use crate::state::AppState;

/// Bytes read from the bucket per body frame: one stored chunk.
const FRAME_BYTES: usize = 256 << 10;

#[derive(ApiResponse)]
pub(crate) enum ArtifactBytes {
    /// The whole artifact.
    #[oai(status = 200)]
    Whole(
        Binary<Body>,
        #[oai(header = "Content-Length")] u64,
        #[oai(header = "Accept-Ranges")] String,
        #[oai(header = "Content-Disposition")] String,
    ),
    /// The bytes the `Range` header asked for.
    #[oai(status = 206)]
    Part(
        Binary<Body>,
        #[oai(header = "Content-Length")] u64,
        #[oai(header = "Content-Range")] String,
        #[oai(header = "Content-Disposition")] String,
    ),
    /// The range starts past the end; `Content-Range` gives the size.
    #[oai(status = 416)]
    Unsatisfiable(Json<ErrorBody>, #[oai(header = "Content-Range")] String),
}

pub(crate) struct ArtifactApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl ArtifactApi {
    /// The queue's artifacts
    ///
    /// Build artifacts (`task` null) and the files its tasks wrote to their
    /// result dirs (named `<task>/<file>`), of the attempt shown.
    #[oai(path = "/queue/:id/artifacts", method = "get")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<ArtifactList>, ApiError> {
        let view = find(&state, &id.0).await?;
        Ok(Json(ArtifactList {
            artifacts: view.artifacts,
        }))
    }

    /// One artifact's bytes
    ///
    /// Streamed with its length; a single `Range: bytes=` range is honoured
    /// (206). The name's `/` are sent as `%2F`. The bucket checks the
    /// SHA-256 as the last chunk is read.
    #[oai(path = "/queue/:id/artifacts/:name", method = "get")]
    async fn bytes(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        name: Path<String>,
        #[oai(name = "Range")] range: Header<Option<String>>,
    ) -> Result<ArtifactBytes, ApiError> {
        let view = find(&state, &id.0).await?;
        let artifact = listed(&view.artifacts, &view.id, &name.0)?;
        let queue_id = QueueId::parse(&view.id).map_err(|e| ApiError::internal("stored id", e))?;
        let mut object = open(&state, &queue_id, artifact).await?;
        let size = object.info().size as u64;
        let disposition = attachment(&artifact.name);
        match ByteRange::of(range.0.as_deref(), size) {
            ByteRange::Whole => Ok(ArtifactBytes::Whole(
                Binary(body(object, size)),
                size,
                "bytes".into(),
                disposition,
            )),
            ByteRange::Part { start, end } => {
                skip(&mut object, start).await?;
                let len = end - start + 1;
                Ok(ArtifactBytes::Part(
                    Binary(body(object, len)),
                    len,
                    format!("bytes {start}-{end}/{size}"),
                    disposition,
                ))
            }
            ByteRange::Unsatisfiable => Ok(ArtifactBytes::Unsatisfiable(
                Json(ErrorBody {
                    error: "range_not_satisfiable".into(),
                    message: format!("{} has {size} bytes", artifact.name),
                }),
                format!("bytes */{size}"),
            )),
        }
    }
}

fn listed<'a>(
    artifacts: &'a [ArtifactView],
    queue: &str,
    name: &str,
) -> Result<&'a ArtifactView, ApiError> {
    artifacts
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::no_artifact(queue, name, "has no artifact"))
}

/// The object behind a listed artifact; one past its retention is gone.
async fn open(
    state: &AppState,
    queue_id: &QueueId,
    artifact: &ArtifactView,
) -> Result<Object, ApiError> {
    state.ensure_connected()?;
    let bucket = state
        .js
        .get_object_store(&state.names.artifacts_bucket)
        .await
        .map_err(|e| ApiError::unavailable(format!("the artifacts bucket: {e}")))?;
    let object_name = state.names.artifact_object(queue_id, &artifact.name);
    match bucket.get(&object_name).await {
        Ok(object) => Ok(object),
        Err(e) if e.kind() == GetErrorKind::NotFound => Err(ApiError::no_artifact(
            queue_id.as_str(),
            &artifact.name,
            "no longer holds the bytes of artifact (past the retention)",
        )),
        Err(e) => Err(ApiError::unavailable(format!(
            "reading {object_name} from the artifacts bucket: {e}"
        ))),
    }
}

/// Reads and drops the first `bytes` of the object.
async fn skip(object: &mut Object, bytes: u64) -> Result<(), ApiError> {
    let skipped = tokio::io::copy(&mut object.take(bytes), &mut tokio::io::sink())
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the artifact: {e}")))?;
    if skipped < bytes {
        return Err(ApiError::unavailable("the artifact ended early"));
    }
    Ok(())
}

fn body(object: Object, len: u64) -> Body {
    let reader = object.take(len);
    Body::from_bytes_stream(tokio_util::io::ReaderStream::with_capacity(
        reader,
        FRAME_BYTES,
    ))
}

/// `attachment; filename="<last part of the name>"`, quotes and controls
/// replaced so the header stays one valid value.
fn attachment(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    let safe: String = file
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() || !c.is_ascii() {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("attachment; filename=\"{safe}\"")
}
