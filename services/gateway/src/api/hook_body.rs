//! A hook's body as the bytes that came: the signature is over them, so
//! they are kept whole and parsed only after it is checked. JSON only
//! (each service's webhook setting `application/json`).

use bytes::Bytes;
use poem::{Request, RequestBody};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchema, MetaSchemaRef, Registry},
};

/// Largest hook accepted: a push of many commits is far below it.
const MAX_HOOK_BYTES: usize = 8 << 20;

pub struct HookBody(pub Bytes);

impl Payload for HookBody {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        super::strict_json::is_json(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("object")))
    }

    fn register(_registry: &mut Registry) {}
}

impl ParsePayload for HookBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(body.take()?.into_bytes_limit(MAX_HOOK_BYTES).await?))
    }
}

impl_apirequest_for_payload!(HookBody);
