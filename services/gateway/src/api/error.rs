//! Every error the HTTP API answers with: one enum, one status per variant,
//! and always the JSON body `{"error": <code>, "message": <human text>}`.

use poem::IntoResponse;
use poem_openapi::{payload::Json, ApiResponse, Object};

use testarena_events::{EventLogError, Unroutable};
use testarena_views::ViewsError;

use crate::request_error::RequestError;

#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `invalid_field`, `not_found`.
    pub error: String,
    /// What went wrong, naming the field or id concerned.
    pub message: String,
}

#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed (not JSON, wrong types, unknown fields).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// A bearer token is needed (only when the gateway has tokens configured).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The bearer token is not one of the gateway's.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No queue has that id (no test has that identity, no worker that board).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The route exists, but not with this method.
    #[oai(status = 405)]
    MethodNotAllowed(Json<ErrorBody>),
    /// The request conflicts with what exists (another body under that id, a
    /// queue that already ended).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The queue's log, events and artifacts left JetStream by
    /// `--retention-days`; its view, test history and sizes stay.
    #[oai(status = 410)]
    Gone(Json<ErrorBody>),
    /// The request body is over 1 MiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The request body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// A field has a value that is not allowed; the message names it.
    #[oai(status = 422)]
    InvalidField(Json<ErrorBody>),
    /// NATS or the view database cannot be reached right now.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// A bug or a corrupt view: the message says what failed.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

fn body(error: &str, message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: error.to_owned(),
        message: message.into(),
    })
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(body("bad_request", message))
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized(body("unauthorized", message))
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(body("forbidden", message))
    }
    pub fn not_found(id: &str) -> Self {
        Self::NotFound(body("not_found", format!("no queue with id {id:?}")))
    }
    pub fn no_bisect(id: &str) -> Self {
        Self::NotFound(body("not_found", format!("no bisect with id {id:?}")))
    }
    pub fn worker_not_found(id: &str) -> Self {
        Self::NotFound(body("not_found", format!("no live worker with id {id:?}")))
    }
    pub fn no_board(worker: &str, board: &str) -> Self {
        Self::NotFound(body(
            "not_found",
            format!("no board {worker}/{board}: GET /api/boards lists the boards of the workers seen lately"),
        ))
    }
    pub fn no_test(message: impl Into<String>) -> Self {
        Self::NotFound(body("not_found", message))
    }
    /// A list's `cursor` that no answer gave.
    pub fn no_page(message: impl Into<String>) -> Self {
        Self::NotFound(body("not_found", message))
    }
    /// A queue that exists but has no such artifact (or no longer its bytes).
    pub fn no_artifact(queue: &str, name: &str, what: &str) -> Self {
        Self::NotFound(body(
            "not_found",
            format!("queue {queue:?} {what} {name:?}"),
        ))
    }
    /// A queue that exists but measured no firmware.
    pub fn no_firmware(queue: &str) -> Self {
        Self::NotFound(body(
            "not_found",
            format!("queue {queue:?} measured no firmware (its profile names no `elf`, or the build did not get that far)"),
        ))
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(body("conflict", message))
    }
    pub fn invalid_field(field: &str, message: impl std::fmt::Display) -> Self {
        Self::InvalidField(body("invalid_field", format!("{field}: {message}")))
    }
    /// A queue's log, events or artifacts that `--retention-days` expired.
    pub fn expired(queue: &str, what: &str, at: &str) -> Self {
        Self::Gone(body(
            "expired",
            format!("the {what} of queue {queue:?} expired at {at} (--retention-days); its view and test history stay"),
        ))
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(body("unavailable", message))
    }
    /// The human text of the error, for a place that reports it as text.
    pub fn message(&self) -> &str {
        match self {
            Self::BadRequest(b)
            | Self::Unauthorized(b)
            | Self::Forbidden(b)
            | Self::NotFound(b)
            | Self::MethodNotAllowed(b)
            | Self::Conflict(b)
            | Self::Gone(b)
            | Self::PayloadTooLarge(b)
            | Self::UnsupportedMediaType(b)
            | Self::InvalidField(b)
            | Self::Unavailable(b)
            | Self::Internal(b) => &b.0.message,
        }
    }
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::Internal(body("internal", format!("{context}: {error}")))
    }
}

impl From<ViewsError> for ApiError {
    fn from(error: ViewsError) -> Self {
        match error {
            ViewsError::Unavailable(_) => Self::unavailable(error.to_string()),
            ViewsError::Corrupt(_) => Self::internal("reading the view database", error),
        }
    }
}

impl From<Unroutable> for ApiError {
    fn from(error: Unroutable) -> Self {
        Self::invalid_field(error.field, error.message)
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        Self::InvalidField(body("invalid_field", error.to_string()))
    }
}

impl From<EventLogError> for ApiError {
    fn from(error: EventLogError) -> Self {
        match error {
            EventLogError::Unavailable(message) => Self::unavailable(message),
            EventLogError::Conflict(message) => Self::conflict(message),
            EventLogError::Unreadable { .. } => Self::internal("reading the events stream", error),
        }
    }
}

/// Turns any error poem raises outside our handlers (unknown route, wrong
/// method, wrong content type, oversized body, a parameter of the wrong type)
/// into the same enum, so every status is a documented variant.
pub fn json_error_response(error: poem::Error) -> poem::Response {
    if error.is_from_response() {
        // One of ours (an `ApiError`): already the JSON body we want.
        return error.into_response();
    }
    let status = error.status().as_u16();
    let message = error.to_string();
    let api_error = match status {
        404 => ApiError::NotFound(body("not_found", message)),
        405 => ApiError::MethodNotAllowed(body("method_not_allowed", message)),
        413 => ApiError::PayloadTooLarge(body("payload_too_large", message)),
        415 => ApiError::UnsupportedMediaType(body("unsupported_media_type", message)),
        s if s < 500 => ApiError::bad_request(message),
        _ => ApiError::internal("serving a request", message),
    };
    let mut response = api_error.into_response();
    if status == 413 {
        // The rest of the oversized body was never read: this connection
        // cannot carry another request.
        response
            .headers_mut()
            .insert("connection", poem::http::HeaderValue::from_static("close"));
    }
    response
}
