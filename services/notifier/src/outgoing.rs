//! An HTTP request the notifier will send, built by pure code and sent by
//! `sender.rs`. Its `Debug` names the headers but never their values, so a
//! request in a log line cannot leak a token.

use std::fmt;

/// A POST: every status and notification API takes one.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Outgoing")
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Outgoing {
    #[cfg(test)]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters: a
/// path segment or a query value that holds `/`, `?` or `&` stays one.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What a delivery record may show of a URL: no query (where tokens
/// hide) and, for a Slack URL whose path is its key, the host only.
pub fn shown_url(url: &str, path_is_secret: bool) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    if !path_is_secret {
        return without_query.to_owned();
    }
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or(rest);
            format!("{scheme}://{host}/…")
        }
        None => "…".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_header_names_never_values() {
        let request = Outgoing {
            url: "https://api.github.com/repos/a/b/statuses/c".into(),
            headers: vec![("Authorization", "Bearer ghp_secret".into())],
            body: b"{}".to_vec(),
        };
        let shown = format!("{request:?}");
        assert!(
            shown.contains("Authorization") && !shown.contains("ghp_secret"),
            "{shown}"
        );
    }

    #[test]
    fn percent_encoding_keeps_a_value_one_segment() {
        assert_eq!(percent_encode("group/sub proj"), "group%2Fsub%20proj");
        assert_eq!(percent_encode("a&b=c?d#é"), "a%26b%3Dc%3Fd%23%C3%A9");
        assert_eq!(percent_encode("v1.2_x-y~"), "v1.2_x-y~");
    }

    #[test]
    fn a_shown_url_loses_its_query_and_a_slack_path() {
        assert_eq!(
            shown_url("https://ci.example.com/hook?token=s3cret", false),
            "https://ci.example.com/hook"
        );
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T0/B0/XYZ", true),
            "https://hooks.slack.com/…"
        );
    }
}
