//! The gateway's question to the scheduler: where do these waiting queues
//! stand, and why? Only the scheduler's plan knows (one ordering of the
//! waiting queues for all), so a view's `position` and `waiting_reason`
//! come from its answer, on core NATS request/reply
//! (`<prefix>.scheduler.waiting`, a queue group: one scheduler answers).

use serde::{Deserialize, Serialize};

use crate::QueueId;

/// The queues asked about; empty asks only for the count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingRequest {
    pub queues: Vec<QueueId>,
}

/// Where one waiting queue stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingInfo {
    /// 1 is the next the scheduler gives to a worker that can take it.
    pub position: u32,
    pub reason: String,
    /// Some live worker offers and admits it: it waits only for a free
    /// slot. Absent (an older scheduler): taken as `true`.
    #[serde(default = "yes")]
    pub runnable: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingReply {
    /// One per queue asked, in order; `None` for a queue that does not wait.
    pub infos: Vec<Option<WaitingInfo>>,
    /// Queues the scheduler has not given to a worker yet.
    pub waiting: usize,
}
