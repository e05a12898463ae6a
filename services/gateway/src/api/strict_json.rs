//! A JSON request payload parsed with serde, so a malformed body is rejected
//! with the path of the offending field (`tasks[2].scenario: invalid type`),
//! while the OpenAPI document still shows the typed schema.

use poem::{Request, RequestBody};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest request body accepted (a 500-task queue is far below it).
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

pub struct StrictJson<T>(pub T);

impl<T: Type> Payload for StrictJson<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        is_json(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + DeserializeOwned> ParsePayload for StrictJson<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let _ = request;
        let bytes = body.take()?.into_bytes_limit(MAX_BODY_BYTES).await?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            ApiError::bad_request(body_error(&error.path().to_string(), error.inner()))
        })?;
        deserializer
            .end()
            .map_err(|e| ApiError::bad_request(body_error("", &e)))?;
        Ok(Self(value))
    }
}

/// A 400's message: a body that is not JSON at all names where it broke
/// (`invalid JSON at line 1, column 17: ...`), not serde's `.` path; one
/// that is JSON but not the request's shape names the field.
/// Whether a `Content-Type` is JSON, its parameters (`; charset=…`) aside.
pub(super) fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn body_error(path: &str, error: &serde_json::Error) -> String {
    let text = error.to_string();
    if error.is_syntax() || error.is_eof() {
        // serde_json ends its text with the position; we lead with it.
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        let reason = text.strip_suffix(&suffix).unwrap_or(&text);
        return format!(
            "invalid JSON at line {}, column {}: {reason}",
            error.line(),
            error.column()
        );
    }
    if path == "." || path.is_empty() {
        format!("request body: {text}")
    } else {
        format!("{path}: {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> String {
        let mut deserializer = serde_json::Deserializer::from_str(body);
        let result: Result<crate::api::model::SubmitRequest, _> =
            serde_path_to_error::deserialize(&mut deserializer);
        let error = result.unwrap_err();
        body_error(&error.path().to_string(), error.inner())
    }

    #[test]
    fn broken_json_names_line_and_column_and_a_wrong_shape_names_the_field() {
        assert_eq!(
            message("{\"source\": {\"repo\" 1}}"),
            "invalid JSON at line 1, column 20: expected `:`"
        );
        assert!(message("{\"source\":").starts_with("invalid JSON at line 1, column 10: "));
        assert!(
            message("{\"source\": {\"repo\": 1}}").starts_with("source.repo: invalid type"),
            "{}",
            message("{\"source\": {\"repo\": 1}}")
        );
    }
}

impl_apirequest_for_payload!(StrictJson<T>, T: Type + DeserializeOwned);
