//! The web dashboard: static assets compiled into the binary, so it works
//! offline and needs no build step.

use poem::{handler, web::Html};

const INDEX: &str = include_str!("../assets/index.html");

#[handler]
pub(crate) fn index() -> Html<&'static str> {
    Html(INDEX)
}
