//! Events about one board, on `<prefix>.boards.<worker>.<board>.<kind>` in
//! the events stream: the scheduler leases and releases it and ends
//! reservations that expired; the gateway records reservations, their early
//! release and power actions (it knows the API token's name); the worker
//! quarantines, readmits and reports a board offline. The projector folds
//! them into the boards view and its history. A public contract with a
//! schema in `schemas/boards/`, versioned like [`crate::Event`].

use serde::{Deserialize, Serialize};

use crate::{BoardName, PowerAction, QueueId, WireError, WIRE_VERSION};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardEvent {
    pub v: u32,
    /// RFC 3339, UTC, set by the emitter.
    pub at: String,
    /// The worker whose `[boards.<name>]` it is.
    pub worker: String,
    pub board: BoardName,
    /// The API token's name for a reservation, release or power action
    /// asked of the gateway; `scheduler` for a lease, its release and an
    /// expiry; the worker's id for what the worker decided.
    pub by: String,
    #[serde(flatten)]
    pub body: BoardEventBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BoardEventBody {
    /// The scheduler gave the board to this queue (its `dispatched` event
    /// names the board too).
    Leased {
        queue: QueueId,
        /// The shard of a sharded queue.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard: Option<u8>,
    },
    /// A lease ended (`queue`: it finished, or its worker went), or, with
    /// no queue, the reservation's holder (`by`) released it early.
    Released {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<QueueId>,
    },
    /// Out of the pool for the token `by` until `until` (RFC 3339);
    /// `until_ms` is the same instant in milliseconds since the epoch.
    Reserved {
        until: String,
        until_ms: u64,
        reason: String,
    },
    /// The reservation until `until_ms` ran out (`by` is `scheduler`).
    /// It ends only that reservation: one renewed since stays.
    Expired { until_ms: u64 },
    /// The worker ran a power action: asked by a reserver (`by`), or its
    /// own before a queue (`by` is the worker's id).
    Power {
        action: PowerAction,
        ok: bool,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
    },
    /// Its boots kept failing: it takes no queue until its health command
    /// passes or an operator readmits it.
    Quarantined { reason: String },
    /// It takes queues again (health command passed, serial back).
    Readmitted {},
    /// Its serial port cannot be opened.
    Offline { reason: String },
}

impl BoardEventBody {
    /// The last token of the event's subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Leased { .. } => "leased",
            Self::Released { .. } => "released",
            Self::Reserved { .. } => "reserved",
            Self::Expired { .. } => "expired",
            Self::Power { .. } => "power",
            Self::Quarantined { .. } => "quarantined",
            Self::Readmitted {} => "readmitted",
            Self::Offline { .. } => "offline",
        }
    }

    pub const KINDS: [&'static str; 8] = [
        "leased",
        "released",
        "reserved",
        "expired",
        "power",
        "quarantined",
        "readmitted",
        "offline",
    ];
}

impl BoardEvent {
    pub fn new(
        worker: impl Into<String>,
        board: BoardName,
        by: impl Into<String>,
        body: BoardEventBody,
    ) -> Self {
        Self {
            v: WIRE_VERSION,
            at: crate::now_rfc3339(),
            worker: worker.into(),
            board,
            by: by.into(),
            body,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("board event serializes")
    }

    /// Parses a board event; one of another wire version is a `WireError::UnknownVersion`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, WireError> {
        crate::wire_version::decode(bytes)
    }
}

impl crate::wire_version::Versioned for BoardEvent {
    fn version(&self) -> u64 {
        u64::from(self.v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_is_flat_and_reads_back() {
        let event = BoardEvent::new(
            "w1",
            BoardName::parse("nucleo-1").unwrap(),
            "ada",
            BoardEventBody::Reserved {
                until: "2026-12-07T16:00:00Z".into(),
                until_ms: 1_796_659_200_000,
                reason: "debugging the UART".into(),
            },
        );
        let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        assert_eq!(json["type"], "reserved");
        assert_eq!(json["board"], "nucleo-1");
        assert_eq!(json["reason"], "debugging the UART");
        assert_eq!(BoardEvent::from_json(&event.to_json()).unwrap(), event);
    }

    #[test]
    fn a_release_without_a_queue_ends_a_reservation() {
        let json = br#"{"v":1,"at":"2026-12-07T16:00:00Z","worker":"w1","board":"b1","by":"ada","type":"released"}"#;
        let event = BoardEvent::from_json(json).unwrap();
        assert_eq!(event.body, BoardEventBody::Released { queue: None });
        assert!(BoardEventBody::KINDS.contains(&event.body.kind()));
    }
}
