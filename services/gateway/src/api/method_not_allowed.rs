//! A 405 answer names the methods the route has (`Allow`, RFC 9110), read
//! from the OpenAPI document; poem's router knows only that the method is
//! not one of them.

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::document::Document;

pub(crate) struct AllowOn405(pub Arc<Document>);

impl<E: Endpoint> Middleware<E> for AllowOn405 {
    type Output = AllowEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AllowEndpoint {
            inner,
            document: self.0.clone(),
        }
    }
}

pub(crate) struct AllowEndpoint<E> {
    inner: E,
    document: Arc<Document>,
}

impl<E: Endpoint> Endpoint for AllowEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Self::Output> {
        let path = request.uri().path().to_owned();
        let mut response = match self.inner.call(request).await {
            Ok(output) => output.into_response(),
            Err(error) => super::error::json_error_response(error),
        };
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            if let Some(allow) = self.document.allow(&path) {
                if let Ok(value) = HeaderValue::from_str(allow) {
                    response.headers_mut().insert("allow", value);
                }
            }
        }
        Ok(response)
    }
}
