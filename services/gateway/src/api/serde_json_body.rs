//! A JSON response written by serde straight into bytes, with the schema
//! of `T` in the OpenAPI document. poem-openapi's `Json` first builds a
//! `serde_json::Value` tree of the whole answer and then writes that: for
//! the test list (a thousand tests, each with its last runs) the tree cost
//! as much as the rest of the request. Only for types whose serde and
//! OpenAPI names agree (they derive both, as the view types do); the
//! contract test holds the answers to the document.

use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;
use serde::Serialize;

pub(crate) struct SerdeJson<T>(pub T);

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

impl<T: Serialize + Send> IntoResponse for SerdeJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
            Err(e) => super::error::ApiError::internal("writing a JSON answer", e).into_response(),
        }
    }
}

impl<T: Type + Serialize + Send> ApiResponse for SerdeJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> SerdeJson<T> {
    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }
}
