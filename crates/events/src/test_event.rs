//! Events about a test rather than a queue: quarantine and its end. They
//! travel in the events stream like every other change of state, on
//! `<prefix>.tests.<kind>` (not under a queue's subtree: a test outlives
//! any queue), so a rebuild restores every quarantine. A public contract
//! with a schema in `schemas/`, versioned like [`crate::Event`].

use serde::{Deserialize, Serialize};

use crate::{TestKey, WireError, WIRE_VERSION};

/// Longest quarantine reason kept (bytes).
pub const MAX_REASON: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestEvent {
    pub v: u32,
    /// RFC 3339, UTC, set by the emitter.
    pub at: String,
    pub test: TestKey,
    #[serde(flatten)]
    pub body: TestEventBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TestEventBody {
    /// The test still runs and is recorded, but its failure no longer fails
    /// a queue. `by`: `user`, or `auto` (the projector's `--auto-quarantine`).
    Quarantined {
        reason: String,
        by: String,
        /// Who asked: the name of the API token (`anonymous` on a gateway
        /// without tokens). Absent for `auto` and in events written before
        /// it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    /// The quarantine ends: its failures fail queues again.
    Unquarantined {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who asked, as for `Quarantined`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
}

impl TestEventBody {
    /// The last token of the event's subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Quarantined { .. } => "quarantined",
            Self::Unquarantined { .. } => "unquarantined",
        }
    }

    pub const KINDS: [&'static str; 2] = ["quarantined", "unquarantined"];
}

impl TestEvent {
    pub fn new(test: TestKey, body: TestEventBody) -> Self {
        Self {
            v: WIRE_VERSION,
            at: crate::now_rfc3339(),
            test,
            body,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("test event serializes")
    }

    /// Parses a test event; one of another wire version is a `WireError::UnknownVersion`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, WireError> {
        crate::wire_version::decode(bytes)
    }
}

impl crate::wire_version::Versioned for TestEvent {
    fn version(&self) -> u64 {
        u64::from(self.v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarantine_is_flat_with_the_test_nested() {
        let event = TestEvent::new(
            TestKey::parse("/repo", Some("qemu"), "boot", None).unwrap(),
            TestEventBody::Quarantined {
                reason: "flaky UART".into(),
                by: "user".into(),
                actor: Some("team-fw".into()),
            },
        );
        let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        assert_eq!(json["type"], "quarantined");
        assert_eq!(json["actor"], "team-fw");
        assert_eq!(json["test"]["profile"], "qemu");
        assert!(json["test"]["case"].is_null());
        assert_eq!(TestEvent::from_json(&event.to_json()).unwrap(), event);
    }

    #[test]
    fn an_event_written_before_the_actor_was_recorded_still_reads() {
        let old = br#"{"v":1,"at":"2025-03-14T09:30:00Z","type":"unquarantined",
            "test":{"repo":"/repo","profile":null,"task":"boot","case":null}}"#;
        let event = TestEvent::from_json(old).unwrap();
        assert_eq!(
            event.body,
            TestEventBody::Unquarantined {
                reason: None,
                actor: None
            }
        );
    }
}
