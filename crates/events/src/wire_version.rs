//! Reading a versioned wire message: a reader knows one `v`, and a message
//! of any other is rejected by name rather than read as if it were that one
//! (a field can mean something else in another version).

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::WIRE_VERSION;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("unknown wire version v={found}: this reader knows v={WIRE_VERSION} only (upgrade it to read newer messages)")]
    UnknownVersion { found: u64 },
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Parses a message of the known version. The happy path parses once; only
/// a message that fails is looked at again, to tell a newer `v` from junk.
pub(crate) fn decode<T: DeserializeOwned + Versioned>(bytes: &[u8]) -> Result<T, WireError> {
    let check = |found: u64| match found == u64::from(WIRE_VERSION) {
        true => Ok(()),
        false => Err(WireError::UnknownVersion { found }),
    };
    match serde_json::from_slice::<T>(bytes) {
        Ok(message) => check(message.version()).map(|()| message),
        Err(error) => {
            #[derive(Deserialize)]
            struct Header {
                v: u64,
            }
            if let Ok(header) = serde_json::from_slice::<Header>(bytes) {
                check(header.v)?;
            }
            Err(WireError::Malformed(error))
        }
    }
}

/// A wire message that carries its version.
pub(crate) trait Versioned {
    fn version(&self) -> u64;
}

#[cfg(test)]
mod tests {
    use crate::{Event, LogBatch, WireError};

    #[test]
    fn an_event_of_an_unknown_version_is_rejected_by_name() {
        // Shaped exactly like a v1 event: only `v` differs.
        let raw = br#"{"v":2,"queue_id":"q1","at":"2025-01-01T00:00:00Z","type":"deleted"}"#;
        let error = Event::from_json(raw).unwrap_err();
        assert!(
            matches!(error, WireError::UnknownVersion { found: 2 }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("unknown wire version v=2"),
            "{error}"
        );
    }

    #[test]
    fn a_newer_event_whose_fields_changed_is_still_named_as_newer() {
        let raw = br#"{"v":3,"queue_id":"q1","at":"x","type":"renamed_kind","new":1}"#;
        assert!(matches!(
            Event::from_json(raw),
            Err(WireError::UnknownVersion { found: 3 })
        ));
    }

    #[test]
    fn a_log_batch_of_an_unknown_version_is_rejected() {
        let raw = br#"{"v":2,"queue_id":"q1","attempt":1,"lines":[]}"#;
        assert!(matches!(
            LogBatch::from_json(raw),
            Err(WireError::UnknownVersion { found: 2 })
        ));
        let v1 = br#"{"v":1,"queue_id":"q1","attempt":1,"lines":[]}"#;
        assert!(LogBatch::from_json(v1).is_ok());
    }

    #[test]
    fn junk_is_malformed_not_a_version_problem() {
        assert!(matches!(
            Event::from_json(b"{\"queue_id\":\"q1\"}"),
            Err(WireError::Malformed(_))
        ));
    }
}
