//! Bearer tokens. With tokens configured, writes (submit, cancel, delete)
//! need one; reads too when `protect_reads` is set. Probes, the dashboard's
//! static files and the API document stay open. Tokens are compared in
//! constant time and never logged.
//!
//! A token may carry a name, `name:token` (name `[A-Za-z0-9_.-]{1,64}`);
//! one without is `token-N` (its place in the list, from 1). The name of
//! the token a request used is its `TokenName`: a queue's default owner.

use std::sync::Arc;

use poem::http::{HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use subtle::ConstantTimeEq;

use crate::api::error::ApiError;

#[derive(Clone, Default)]
pub struct ApiAuth {
    tokens: Arc<Vec<(String, Vec<u8>)>>,
    protect_reads: bool,
}

/// The name of the bearer token a request presented (request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenName(pub String);

/// Who a write is for when it names no owner: the name of the API token
/// it came with, else `anonymous`.
pub(crate) fn default_owner(request: &poem::Request) -> testarena_events::Owner {
    request
        .extensions()
        .get::<TokenName>()
        .and_then(|name| testarena_events::Owner::parse(name.0.clone()).ok())
        .unwrap_or_else(testarena_events::Owner::anonymous)
}

/// `name:token` → (name, token); a bare token is named by its place.
fn named(index: usize, entry: String) -> (String, Vec<u8>) {
    let is_name = |n: &str| {
        !n.is_empty()
            && n.len() <= 64
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    };
    match entry.split_once(':') {
        Some((name, token)) if is_name(name) && !token.is_empty() => {
            (name.to_owned(), token.as_bytes().to_vec())
        }
        _ => (format!("token-{}", index + 1), entry.into_bytes()),
    }
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens themselves.
        f.debug_struct("ApiAuth")
            .field("tokens", &self.tokens.len())
            .field("protect_reads", &self.protect_reads)
            .finish()
    }
}

impl ApiAuth {
    pub fn new(tokens: Vec<String>, protect_reads: bool) -> Self {
        Self {
            tokens: Arc::new(
                tokens
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .enumerate()
                    .map(|(i, t)| named(i, t))
                    .collect(),
            ),
            protect_reads,
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The name of the token presented, if it is one of ours.
    fn accepts(&self, presented: &[u8]) -> Option<TokenName> {
        // Check every token, so the time taken does not say which matched.
        let mut found = None;
        for (name, token) in self.tokens.iter() {
            if bool::from(token.as_slice().ct_eq(presented)) {
                found = Some(TokenName(name.clone()));
            }
        }
        found
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Access {
    Open,
    Read,
    Write,
}

fn access(method: &Method, path: &str) -> Access {
    // Hooks carry their service's signature, checked by the route: a git
    // host sends no bearer token.
    let api = path.starts_with("/api/")
        && path != "/api/openapi.json"
        && !path.starts_with("/api/hooks/");
    match (api || path == "/metrics", method) {
        (false, _) => Access::Open,
        (true, &Method::GET) | (true, &Method::HEAD) | (true, &Method::OPTIONS) => Access::Read,
        (true, _) => Access::Write,
    }
}

impl<E: Endpoint> Middleware<E> for ApiAuth {
    type Output = AuthEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AuthEndpoint {
            inner,
            auth: self.clone(),
        }
    }
}

pub struct AuthEndpoint<E> {
    inner: E,
    auth: ApiAuth,
}

impl<E: Endpoint> Endpoint for AuthEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Self::Output> {
        if self.auth.is_enabled() {
            let needed = match access(request.method(), request.uri().path()) {
                Access::Open => false,
                Access::Read => self.auth.protect_reads,
                Access::Write => true,
            };
            let presented = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::to_owned)
                .or_else(|| console_query_token(&request))
                .map(|token| self.auth.accepts(token.trim().as_bytes()));
            match presented {
                None if needed => {
                    return Ok(denied(ApiError::unauthorized(
                        "this route needs a bearer token: Authorization: Bearer <token>",
                    )))
                }
                Some(None) if needed => {
                    return Ok(denied(ApiError::forbidden("the bearer token is not valid")))
                }
                Some(Some(name)) => {
                    request.extensions_mut().insert(name);
                }
                _ => {}
            }
        }
        self.inner
            .call(request)
            .await
            .map(IntoResponse::into_response)
    }
}

/// Whether `path` is a board's console WebSocket,
/// `/api/boards/<worker>/<board>/console`.
fn is_console_path(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    matches!(segments.as_slice(), ["", "api", "boards", w, b, "console"] if !w.is_empty() && !b.is_empty())
}

/// A browser cannot set headers on a WebSocket: the console route alone
/// takes its token as `?token=` (never logged, as the header).
fn console_query_token(request: &Request) -> Option<String> {
    if !is_console_path(request.uri().path()) {
        return None;
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(request.uri().query()?).unwrap_or_default();
    pairs
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

fn denied(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified() {
        assert_eq!(access(&Method::POST, "/api/queue"), Access::Write);
        assert_eq!(access(&Method::DELETE, "/api/delete/x"), Access::Write);
        assert_eq!(access(&Method::GET, "/api/queues"), Access::Read);
        assert_eq!(access(&Method::GET, "/metrics"), Access::Read);
        assert_eq!(access(&Method::GET, "/api/openapi.json"), Access::Open);
        assert_eq!(access(&Method::POST, "/api/hooks/github"), Access::Open);
        assert_eq!(access(&Method::POST, "/api/repos/run"), Access::Write);
        assert_eq!(access(&Method::GET, "/healthz"), Access::Open);
        assert_eq!(access(&Method::GET, "/"), Access::Open);
    }

    #[test]
    fn only_the_console_takes_a_token_in_its_query() {
        let token_of = |uri: &str| {
            let request = Request::builder().uri(uri.parse().unwrap()).finish();
            console_query_token(&request)
        };
        assert_eq!(
            token_of("/api/boards/w1/b1/console?token=a%2Bb").as_deref(),
            Some("a+b")
        );
        assert_eq!(token_of("/api/boards/w1/b1/console"), None);
        assert_eq!(token_of("/api/boards/w1/b1/history?token=x"), None);
        assert_eq!(token_of("/api/queues?token=x"), None);
        assert_eq!(token_of("/api/boards/w1/console?token=x"), None);
    }

    #[test]
    fn only_configured_tokens_are_accepted() {
        let auth = ApiAuth::new(vec!["s3cret".into(), "team-a:other".into()], false);
        assert_eq!(auth.accepts(b"s3cret"), Some(TokenName("token-1".into())));
        assert_eq!(auth.accepts(b"other"), Some(TokenName("team-a".into())));
        assert_eq!(auth.accepts(b"team-a:other"), None);
        assert_eq!(auth.accepts(b"s3cre"), None);
        assert_eq!(auth.accepts(b""), None);
        assert!(!ApiAuth::new(vec![], false).is_enabled());
    }
}
