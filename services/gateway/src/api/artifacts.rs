//! A queue's artifacts: the list (from its view, a projection of the
//! `artifact_stored` events) and each file's bytes, streamed from the
//! JetStream Object Store a few chunks at a time (`artifact_stream.rs`),
//! never held whole: the gateway's memory does not grow with the file. A
//! `Range` skips the chunks before its start (the bucket can only be read
//! from an object's beginning).

use std::sync::Arc;

use async_nats::jetstream::object_store::ObjectInfo;
use poem::{web::Data, Body};
use poem_openapi::{
    param::{Header, Path},
    payload::{Binary, Json},
    ApiResponse, OpenApi,
};
use testarena_events::QueueId;

use super::artifact_stream::{self, ObjectRead, OpenError};
use super::byte_range::ByteRange;
use super::error::{ApiError, ErrorBody};
use super::model::{ArtifactList, ArtifactView};
use super::queries::find_retained;
use super::ApiTags;
use crate::state::AppState;

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
        let view = find_retained(&state, &id.0, "artifacts").await?;
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
        let view = find_retained(&state, &id.0, "artifacts").await?;
        let artifact = listed(&view.artifacts, &view.id, &name.0)?;
        let queue_id = QueueId::parse(&view.id).map_err(|e| ApiError::internal("stored id", e))?;
        let info = open(&state, &queue_id, artifact).await?;
        let size = info.size as u64;
        let disposition = attachment(&artifact.name);
        match ByteRange::of(range.0.as_deref(), size) {
            ByteRange::Whole => {
                let body = body(&state, info, 0, size).await?;
                Ok(ArtifactBytes::Whole(
                    Binary(body),
                    size,
                    "bytes".into(),
                    disposition,
                ))
            }
            ByteRange::Part { start, end } => {
                let len = end - start + 1;
                let body = body(&state, info, start, len).await?;
                Ok(ArtifactBytes::Part(
                    Binary(body),
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
) -> Result<ObjectInfo, ApiError> {
    state.events.ensure_connected()?;
    let object = state.names.artifact_object(queue_id, &artifact.name);
    artifact_stream::object_info(&state.js, &state.names, &object)
        .await
        .map_err(|e| match e {
            OpenError::NotFound => ApiError::no_artifact(
                queue_id.as_str(),
                &artifact.name,
                "no longer holds the bytes of artifact (past the retention)",
            ),
            OpenError::Unavailable(message) => ApiError::unavailable(message),
        })
}

/// `len` bytes of the object from `skip`, as the response body.
async fn body(state: &AppState, info: ObjectInfo, skip: u64, len: u64) -> Result<Body, ApiError> {
    let read = ObjectRead { info, skip, len };
    let chunks = artifact_stream::chunks(&state.js, &state.names, read)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Body::from_bytes_stream(chunks))
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
