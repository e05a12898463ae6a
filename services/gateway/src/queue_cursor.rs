//! Pure: the queue list's cursor. The list is newest first by the events
//! stream's sequence of each queue's `submitted` (one per queue), so a
//! page's cursor is its last queue's sequence: the next page starts below
//! it, whatever was submitted or deleted meanwhile. On the wire it is opaque
//! to clients: the sequence as JSON `{"before": n}` in URL-safe base64, so it
//! can carry more later without changing its type.

use base64::Engine as _;

/// Where a page of the queue list starts: after (below) this sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueCursor(u64);

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    before: u64,
}

impl QueueCursor {
    pub(crate) fn after(submitted_seq: u64) -> Self {
        Self(submitted_seq)
    }

    pub(crate) fn submitted_seq(self) -> u64 {
        self.0
    }

    /// A cursor as `GET /api/queues` gave it; `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let Wire { before } = serde_json::from_slice(&json).ok()?;
        Some(Self(before))
    }

    pub(crate) fn encode(self) -> String {
        let json = serde_json::to_vec(&Wire { before: self.0 }).expect("a number serializes");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_the_sequence_it_was_made_of() {
        let cursor = QueueCursor::after(1_000_042);
        let text = cursor.encode();
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(QueueCursor::parse(&text), Some(cursor));
        assert_eq!(
            QueueCursor::parse(&text).unwrap().submitted_seq(),
            1_000_042
        );
    }

    #[test]
    fn only_a_cursor_the_api_gave_parses() {
        let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        assert_eq!(QueueCursor::parse("not base64!"), None);
        assert_eq!(QueueCursor::parse(&encode("{}")), None);
        assert_eq!(QueueCursor::parse(&encode(r#"{"before":-1}"#)), None);
        assert_eq!(QueueCursor::parse(&encode(r#"{"before":1,"x":2}"#)), None);
    }
}
