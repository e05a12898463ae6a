//! The web dashboard: static assets compiled into the binary, so it works
//! offline and needs no build step. The page is plain HTML, CSS and ES
//! modules that read the HTTP API; nothing here knows about queues.
//!
//! Every answer carries an `ETag` (a hash of the embedded bytes, or of a
//! vendored file's name and version, fixed at
//! compile time) and `Cache-Control: no-cache`: browsers revalidate on each
//! load and get a `304`, so a new binary is never hidden by a stale cache.

use poem::http::{header, Method, StatusCode};
use poem::{handler, web::Path, Endpoint, IntoEndpoint, IntoResponse, Request, Response};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: u64,
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../assets/", $name)),
            etag: fnv1a(include_bytes!(concat!("../assets/", $name))),
        }
    };
}

/// A third-party file from `assets/vendor/`, served under its bare name
/// (`/assets/{name}` is one path segment). See `assets/vendor/README.md`.
/// Its ETag hashes its name and version, not its bytes: it changes only
/// with its version, and hashing xterm.js's 340 KB in const eval trips
/// rustc's `long_running_const_eval`.
macro_rules! vendored {
    ($name:literal, $content_type:literal, $version:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../assets/vendor/", $name)),
            etag: fnv1a($name.as_bytes()) ^ fnv1a($version.as_bytes()).rotate_left(1),
        }
    };
}

/// The vendored xterm.js (npm `@xterm/xterm`, MIT): the board page's console.
const XTERM_VERSION: &str = "6.0.0";

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// What `/assets/{name}` serves; nothing else under that path exists.
const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("ansi.js", "text/javascript; charset=utf-8"),
    asset!("badges.js", "text/javascript; charset=utf-8"),
    asset!("bisect.js", "text/javascript; charset=utf-8"),
    asset!("bisect_page.js", "text/javascript; charset=utf-8"),
    asset!("bisects_page.js", "text/javascript; charset=utf-8"),
    asset!("boards.js", "text/javascript; charset=utf-8"),
    asset!("boards_page.js", "text/javascript; charset=utf-8"),
    asset!("board_page.js", "text/javascript; charset=utf-8"),
    asset!("board_console.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("eta.js", "text/javascript; charset=utf-8"),
    asset!("format.js", "text/javascript; charset=utf-8"),
    asset!("list_filters.js", "text/javascript; charset=utf-8"),
    asset!("list_page.js", "text/javascript; charset=utf-8"),
    asset!("log_excerpt.js", "text/javascript; charset=utf-8"),
    asset!("log_lines.js", "text/javascript; charset=utf-8"),
    asset!("log_view.js", "text/javascript; charset=utf-8"),
    asset!("outcome.js", "text/javascript; charset=utf-8"),
    asset!("queue_page.js", "text/javascript; charset=utf-8"),
    asset!("rerun.js", "text/javascript; charset=utf-8"),
    asset!("size_diff.js", "text/javascript; charset=utf-8"),
    asset!("size_chart.js", "text/javascript; charset=utf-8"),
    asset!("sizes_page.js", "text/javascript; charset=utf-8"),
    asset!("source.js", "text/javascript; charset=utf-8"),
    asset!("test_history.js", "text/javascript; charset=utf-8"),
    asset!("test_page.js", "text/javascript; charset=utf-8"),
    asset!("tests_page.js", "text/javascript; charset=utf-8"),
    asset!("timeline.js", "text/javascript; charset=utf-8"),
    asset!("fleet.js", "text/javascript; charset=utf-8"),
    asset!("workers_page.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    vendored!("xterm.mjs", "text/javascript; charset=utf-8", XTERM_VERSION),
    vendored!("xterm.css", "text/css; charset=utf-8", XTERM_VERSION),
    vendored!("xterm.LICENSE", "text/plain; charset=utf-8", XTERM_VERSION),
];

/// The page only loads its own assets and talks to its own origin, so a log
/// line that slipped past the escaping still could not run or fetch anything.
///
/// `style-src` alone allows `'unsafe-inline'`: xterm.js (the board console)
/// writes its colours and cell sizes into `<style>` elements and `style`
/// attributes it creates, which CSP cannot allow by hash or nonce since
/// their text changes with the terminal. Scripts stay `'self'` only, and
/// with `img-src` and `connect-src` on this origin (the console's
/// WebSocket too) and everything else `'none'`, an injected style could
/// not send anything elsewhere; the dashboard never parses API text as
/// HTML (dom.js) to begin with.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// The API with the dashboard's page in front of it at `/`.
///
/// The API is nested at `/`, and poem's `nest("/")` answers `/` itself ahead
/// of any `.at("/")`, so the page cannot be a route beside it: `/` is taken
/// back here, and every other path goes to the API untouched.
pub(crate) fn in_front_of<E: IntoEndpoint>(api: E) -> impl Endpoint<Output = Response> {
    PageInFront(api.into_endpoint())
}

struct PageInFront<E>(E);

impl<E: Endpoint> Endpoint for PageInFront<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let is_page =
            req.uri().path() == "/" && matches!(*req.method(), Method::GET | Method::HEAD);
        if is_page {
            return Ok(index(&req));
        }
        self.0.call(req).await.map(IntoResponse::into_response)
    }
}

fn index(req: &Request) -> Response {
    let mut response = respond(req, &INDEX);
    if let Ok(value) = header::HeaderValue::from_str(CSP) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

#[handler]
pub(crate) fn assets(req: &Request, Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(found) => respond(req, found),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("application/json")
            .body(
                serde_json::json!({
                    "error": "not_found",
                    "message": format!("no dashboard asset named {name:?}"),
                })
                .to_string(),
            ),
    }
}

fn respond(req: &Request, asset: &Asset) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let builder = Response::builder()
        .header(header::ETAG, etag.as_str())
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if matches_etag(req.header(header::IF_NONE_MATCH), &etag) {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    builder.content_type(asset.content_type).body(asset.body)
}

/// `If-None-Match` is a list of (possibly weak) tags or `*`.
fn matches_etag(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|list| {
        list.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    })
}

/// FNV-1a: tiny, `const`, and plenty to tell two builds' assets apart.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::{Endpoint, Route};

    /// Laid out as the gateway lays it out: the API nested at `/`.
    fn app() -> Route {
        let api = poem::endpoint::make_sync(|_| "api");
        Route::new()
            .nest("/", in_front_of(api))
            .at("/assets/:name", poem::get(assets))
    }

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut req = Request::builder().uri(path.parse().expect("uri"));
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        app().get_response(req.finish()).await
    }

    #[tokio::test]
    async fn the_page_is_at_the_root_and_the_api_keeps_the_rest() {
        let page = get("/", None).await;
        assert_eq!(page.content_type(), Some("text/html; charset=utf-8"));
        let api = get("/api/queues", None).await;
        assert_eq!(api.into_body().into_string().await.unwrap(), "api");
        let post = app()
            .get_response(
                Request::builder()
                    .method(Method::POST)
                    .uri_str("/")
                    .finish(),
            )
            .await;
        assert_eq!(post.into_body().into_string().await.unwrap(), "api");
    }

    #[tokio::test]
    async fn the_page_and_its_modules_have_their_content_types() {
        let page = get("/", None).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.content_type(), Some("text/html; charset=utf-8"));
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let script = get("/assets/app.js", None).await;
        assert_eq!(script.status(), StatusCode::OK);
        assert_eq!(
            script.content_type(),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            script.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-cache"
        );
        let style = get("/assets/app.css", None).await;
        assert_eq!(style.content_type(), Some("text/css; charset=utf-8"));
    }

    #[tokio::test]
    async fn every_asset_the_page_names_is_served() {
        let page = String::from_utf8_lossy(INDEX.body);
        for name in page
            .split("\"/assets/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
        {
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "index.html names /assets/{name}, which is not in ASSETS"
            );
        }
    }

    #[tokio::test]
    async fn every_module_the_page_imports_is_served() {
        for module in ASSETS {
            let text = String::from_utf8_lossy(module.body);
            for import in text
                .lines()
                .filter_map(|l| l.split(" from './").nth(1))
                .filter_map(|rest| rest.split('\'').next())
            {
                assert!(
                    ASSETS.iter().any(|a| a.name == import),
                    "{} imports {import}, which is not in ASSETS",
                    module.name
                );
            }
        }
    }

    #[tokio::test]
    async fn the_vendored_terminal_is_served_under_its_bare_name() {
        let module = get("/assets/xterm.mjs", None).await;
        assert_eq!(module.status(), StatusCode::OK);
        let text = module.into_body().into_string().await.unwrap();
        assert!(text.contains("export{") && text.contains(" as Terminal}"));
        let style = get("/assets/xterm.css", None).await;
        assert_eq!(style.content_type(), Some("text/css; charset=utf-8"));
    }

    #[test]
    fn only_styles_may_be_inline() {
        let directive = |name: &str| {
            CSP.split(';')
                .map(str::trim)
                .find(|d| d.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no {name} in the CSP"))
        };
        assert_eq!(directive("script-src"), "script-src 'self'");
        assert_eq!(directive("style-src"), "style-src 'self' 'unsafe-inline'");
        assert_eq!(directive("connect-src"), "connect-src 'self'");
        assert_eq!(directive("default-src"), "default-src 'none'");
    }

    #[tokio::test]
    async fn a_matching_etag_answers_not_modified() {
        let first = get("/assets/app.css", None).await;
        let etag = first.headers().get(header::ETAG).unwrap().to_str().unwrap();
        let again = get("/assets/app.css", Some(&format!("W/{etag}, \"x\""))).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let other = get("/assets/app.css", Some("\"0\"")).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn an_unknown_asset_is_a_json_404() {
        let missing = get("/assets/nope.js", None).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.content_type(), Some("application/json"));
    }
}
