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
        content_type
            .split(';')
            .next()
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
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
            let path = error.path().to_string();
            if path == "." || path.is_empty() {
                ApiError::bad_request(format!("request body: {}", error.inner()))
            } else {
                ApiError::bad_request(format!("{path}: {}", error.inner()))
            }
        })?;
        deserializer
            .end()
            .map_err(|e| ApiError::bad_request(format!("request body: {e}")))?;
        Ok(Self(value))
    }
}

impl_apirequest_for_payload!(StrictJson<T>, T: Type + DeserializeOwned);
