//! A query parameter a route does not take is a 400 naming it, as an
//! unknown body field is: a typo (`?stauts=Running`) must not silently
//! answer the unfiltered list. The names each route takes are read from the
//! OpenAPI document, so the check and the document cannot disagree.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::document::Document;
use super::error::ApiError;

pub(crate) struct RejectUnknownQuery(pub Arc<Document>);

impl<E: Endpoint> Middleware<E> for RejectUnknownQuery {
    type Output = RejectUnknownQueryEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RejectUnknownQueryEndpoint {
            inner,
            document: self.0.clone(),
        }
    }
}

pub(crate) struct RejectUnknownQueryEndpoint<E> {
    inner: E,
    document: Arc<Document>,
}

impl<E: Endpoint> Endpoint for RejectUnknownQueryEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Self::Output> {
        let known = self
            .document
            .query_names(request.uri().path(), request.method().as_str());
        if let (Some(known), Some(query)) = (known, request.uri().query()) {
            if let Some(unknown) = first_unknown(query, known) {
                return Ok(unknown_parameter(&unknown, known).into_response());
            }
        }
        self.inner
            .call(request)
            .await
            .map(IntoResponse::into_response)
    }
}

/// The first parameter name of `query` that is not one of `known`.
fn first_unknown(query: &str, known: &[String]) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs
        .into_iter()
        .map(|(name, _)| name)
        .find(|name| !known.iter().any(|k| k == name))
}

fn unknown_parameter(name: &str, known: &[String]) -> ApiError {
    let expected = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::bad_request(format!(
        "{name}: unknown query parameter, expected one of {expected}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_the_route_does_not_take_are_unknown() {
        let known = ["status".to_owned(), "page".to_owned()];
        assert_eq!(first_unknown("status=Running&page=2", &known), None);
        assert_eq!(first_unknown("", &known), None);
        assert_eq!(
            first_unknown("page=1&stauts=Running", &known).as_deref(),
            Some("stauts")
        );
        assert_eq!(first_unknown("sta%74us=x", &known), None, "decoded first");
    }
}
