//! Every error the HTTP API answers with: one enum, one status per variant,
//! and always the JSON body `{"error": <code>, "message": <human text>}`.

use poem_openapi::{payload::Json, ApiResponse, Object};

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
    /// A bearer token is needed.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No queue has that id.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request conflicts with what exists (another body under that id, a
    /// queue that already ended).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// A field has a value that is not allowed; the message names it.
    #[oai(status = 422)]
    InvalidField(Json<ErrorBody>),
    /// NATS or the view database cannot be reached right now.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
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
    pub fn not_found(id: &str) -> Self {
        Self::NotFound(body("not_found", format!("no queue with id {id:?}")))
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(body("conflict", message))
    }
    pub fn invalid_field(field: &str, message: impl std::fmt::Display) -> Self {
        Self::InvalidField(body("invalid_field", format!("{field}: {message}")))
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(body("unavailable", message))
    }
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::Internal(body("internal", format!("{context}: {error}")))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::unavailable(format!("view database: {error}"))
    }
}

/// Turns any error poem raises outside our handlers (unknown route, wrong
/// method, missing content type, oversized body) into the same JSON shape.
pub fn json_error_response(error: poem::Error) -> poem::Response {
    if error.is_from_response() {
        // One of ours (an `ApiError`): already the JSON body we want.
        return error.into_response();
    }
    let status = error.status();
    let code = match status.as_u16() {
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        s if s < 500 => "bad_request",
        _ => "internal",
    };
    let body = serde_json::json!({ "error": code, "message": error.to_string() });
    let mut response = poem::Response::builder()
        .status(status)
        .content_type("application/json");
    if status.as_u16() == 413 {
        // The rest of the oversized body was never read: this connection
        // cannot carry another request.
        response = response.header("connection", "close");
    }
    response.body(body.to_string())
}
