//! Events about a worker rather than a queue: an operator drained it or
//! readmitted one of its profiles, the worker quarantined (or, its health
//! command passing, readmitted) a profile itself, or it went offline. The
//! registry bucket holds only a worker's state now; these hold who changed
//! it and when. They travel in the events stream on
//! `<prefix>.workers.<worker>.<kind>` (not `<prefix>.fleet.>`: those are
//! core-NATS requests to the worker, which a stream must not answer). A
//! public contract with a schema in `schemas/workers/`, versioned like
//! [`crate::Event`].

use serde::{Deserialize, Serialize};

use crate::{WireError, WIRE_VERSION};

/// Longest quarantine reason kept (bytes); a longer one is cut.
pub const MAX_WORKER_REASON: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerEvent {
    pub v: u32,
    /// RFC 3339, UTC, set by the emitter.
    pub at: String,
    /// The worker's id, as in the registry.
    pub worker: String,
    /// Who changed it: the API token's name (`anonymous` without tokens)
    /// for a drain or readmit asked of the gateway; the worker's own id for
    /// what the worker decided (a quarantine, a health readmit, leaving);
    /// `registry` for a worker that went silent.
    pub by: String,
    #[serde(flatten)]
    pub body: WorkerEventBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerEventBody {
    /// Takes nothing new, finishes what it runs.
    Drained {},
    /// This profile takes no queue on this worker: its boots kept failing.
    Quarantined { profile: String, reason: String },
    /// This profile takes queues on this worker again.
    Readmitted { profile: String },
    /// Gone from the registry's live workers: stopped cleanly (`left`
    /// true, `last_seen` is when) or silent for three heartbeats since
    /// `last_seen`.
    Offline { last_seen: String, left: bool },
}

impl WorkerEventBody {
    /// The last token of the event's subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Drained {} => "drained",
            Self::Quarantined { .. } => "quarantined",
            Self::Readmitted { .. } => "readmitted",
            Self::Offline { .. } => "offline",
        }
    }

    pub const KINDS: [&'static str; 4] = ["drained", "quarantined", "readmitted", "offline"];
}

impl WorkerEvent {
    pub fn new(worker: impl Into<String>, by: impl Into<String>, body: WorkerEventBody) -> Self {
        Self {
            v: WIRE_VERSION,
            at: crate::now_rfc3339(),
            worker: worker.into(),
            by: by.into(),
            body,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("worker event serializes")
    }

    /// Parses a worker event; one of another wire version is a `WireError::UnknownVersion`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, WireError> {
        crate::wire_version::decode(bytes)
    }
}

impl crate::wire_version::Versioned for WorkerEvent {
    fn version(&self) -> u64 {
        u64::from(self.v)
    }
}

/// A quarantine reason within [`MAX_WORKER_REASON`] bytes, cut on a
/// character boundary.
pub fn bounded_reason(reason: &str) -> String {
    let mut end = reason.len().min(MAX_WORKER_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// One change of a worker's state as `GET /api/workers` shows it: what,
/// who and when (the one type the projector writes, the gateway serves and
/// the CLI reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct WorkerChange {
    /// `drained`, `quarantined`, `readmitted` or `offline`.
    pub kind: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// The API token's name, the worker's id, or `registry` (went silent).
    pub by: String,
    /// The profile a quarantine or readmit was about.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub profile: Option<String>,
    /// A quarantine's reason; for `offline`, `left` or `silent`.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub detail: Option<String>,
}

impl WorkerChange {
    pub fn of(event: &WorkerEvent) -> Self {
        let (profile, detail) = match &event.body {
            WorkerEventBody::Drained {} => (None, None),
            WorkerEventBody::Quarantined { profile, reason } => {
                (Some(profile.clone()), Some(reason.clone()))
            }
            WorkerEventBody::Readmitted { profile } => (Some(profile.clone()), None),
            WorkerEventBody::Offline { left, .. } => {
                (None, Some(if *left { "left" } else { "silent" }.to_owned()))
            }
        };
        Self {
            kind: event.body.kind().to_owned(),
            at: event.at.clone(),
            by: event.by.clone(),
            profile,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarantine_is_flat_and_reads_back() {
        let event = WorkerEvent::new(
            "w1",
            "w1",
            WorkerEventBody::Quarantined {
                profile: "qemu-arm".into(),
                reason: "3 boots in a row failed".into(),
            },
        );
        let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        assert_eq!(json["type"], "quarantined");
        assert_eq!(json["profile"], "qemu-arm");
        assert_eq!(json["worker"], "w1");
        assert_eq!(WorkerEvent::from_json(&event.to_json()).unwrap(), event);
        let change = WorkerChange::of(&event);
        assert_eq!(change.profile.as_deref(), Some("qemu-arm"));
        assert_eq!(change.detail.as_deref(), Some("3 boots in a row failed"));
    }

    #[test]
    fn offline_says_whether_it_left_or_went_silent() {
        let silent = WorkerEvent::new(
            "w1",
            "registry",
            WorkerEventBody::Offline {
                last_seen: "2025-03-14T09:30:00Z".into(),
                left: false,
            },
        );
        assert_eq!(WorkerChange::of(&silent).detail.as_deref(), Some("silent"));
        let json: serde_json::Value = serde_json::from_slice(&silent.to_json()).unwrap();
        assert_eq!(json["type"], "offline");
    }

    #[test]
    fn a_long_reason_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_WORKER_REASON);
        let cut = bounded_reason(&long);
        assert!(cut.len() <= MAX_WORKER_REASON);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
