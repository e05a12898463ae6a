//! Stream names and subjects. Everything is derived from one prefix and two
//! stream names so that several arenas can share one NATS account.
//!
//! Subjects:
//! - `<prefix>.events.<queue_id>.<kind>`: one subtree per queue, one token per kind.
//! - `<prefix>.tests.<kind>`: events about a test, not a queue (quarantine);
//!   in the events stream too, outside every queue's subtree.
//! - `<prefix>.bisect.<bisect_id>.<kind>`: events about a bisect; in the
//!   events stream too.
//! - `<prefix>.workers.<worker>.<kind>`: a worker's state changes (drained,
//!   quarantined, readmitted, offline); in the events stream too.
//! - `<prefix>.boards.<worker>.<board>.<kind>`: a board's leases,
//!   reservations, power and health; in the events stream too.
//! - `<prefix>.console.<worker>.<board>.{out,in}`: core NATS (not stored),
//!   a board's serial bytes out of and into its worker.
//! - `<prefix>.logs.<queue_id>`: log batches.
//! - `<prefix>.applied.<projector>`: core NATS (not stored), the projector's
//!   last applied events-stream sequence, so a gateway can wait for its view.

use crate::{BisectId, BoardName, QueueId};

/// The per-queue folder `<data>/<queue_id>/` holds these two files, as the
/// original system had them.
pub const QUEUE_STATUS_FILE: &str = "queue_status.json";
pub const QUEUE_LOG_FILE: &str = "queue_log.txt";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArenaNames {
    pub prefix: String,
    pub events_stream: String,
    pub logs_stream: String,
    /// The Object Store bucket of artifacts (its stream is `OBJ_<bucket>`).
    pub artifacts_bucket: String,
    /// The Object Store bucket of build outputs shared between worker
    /// hosts (its stream is `OBJ_<bucket>`).
    pub builds_bucket: String,
    /// The Object Store bucket of the projector's view snapshots, each
    /// with the stream sequences it reflects (its stream is `OBJ_<bucket>`).
    pub snapshots_bucket: String,
}

impl Default for ArenaNames {
    fn default() -> Self {
        Self::new("arena")
    }
}

impl ArenaNames {
    /// Streams are named after the prefix (`arena` → `ARENA_EVENTS`, `ARENA_LOGS`).
    pub fn new(prefix: &str) -> Self {
        let upper: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            prefix: prefix.to_owned(),
            events_stream: format!("{upper}_EVENTS"),
            logs_stream: format!("{upper}_LOGS"),
            artifacts_bucket: format!("{upper}_ARTIFACTS"),
            builds_bucket: format!("{upper}_BUILDS"),
            snapshots_bucket: format!("{upper}_SNAPSHOTS"),
        }
    }

    pub fn event_subject(&self, queue_id: &QueueId, kind: &str) -> String {
        format!("{}.events.{}.{}", self.prefix, queue_id, kind)
    }

    /// Every event of one queue (`dispatched` has one token more).
    pub fn queue_events_filter(&self, queue_id: &QueueId) -> String {
        format!("{}.events.{}.>", self.prefix, queue_id)
    }

    /// Where the dispatcher gives a queue to one worker.
    pub fn dispatch_subject(&self, queue_id: &QueueId, worker: &str) -> String {
        format!("{}.events.{}.dispatched.{}", self.prefix, queue_id, worker)
    }

    /// Every dispatch of one queue, whichever worker it went to.
    pub fn queue_dispatches_filter(&self, queue_id: &QueueId) -> String {
        format!("{}.events.{}.dispatched.*", self.prefix, queue_id)
    }

    /// Where a shard claims one task of a sharded queue.
    pub fn task_claim_subject(&self, queue_id: &QueueId, task: &crate::TaskId) -> String {
        format!("{}.events.{}.task_claimed.{}", self.prefix, queue_id, task)
    }

    /// What one worker's consumer takes: the queues dispatched to it.
    pub fn worker_dispatch_filter(&self, worker: &str) -> String {
        format!("{}.events.*.dispatched.{}", self.prefix, worker)
    }

    /// One worker's durable consumer.
    pub fn worker_dispatch_consumer(&self, worker: &str) -> String {
        format!("{}_worker_{}", self.prefix.replace('.', "_"), worker)
    }

    /// The registry bucket (JetStream KV): one key per worker.
    pub fn fleet_bucket(&self) -> String {
        format!("{}_fleet", self.prefix.replace('.', "_"))
    }

    /// The notifier's delivery records (JetStream KV): one key per delivery.
    pub fn notifications_bucket(&self) -> String {
        format!("{}_notifications", self.prefix.replace('.', "_"))
    }

    /// The notifier's durable consumer of the events stream.
    pub fn notifier_consumer(&self) -> String {
        format!("{}_notifier", self.prefix.replace('.', "_"))
    }

    /// Requests to one worker: `drain` and `readmit`.
    pub fn worker_control_subject(&self, worker: &str, action: &str) -> String {
        format!("{}.fleet.{}.{}", self.prefix, worker, action)
    }

    /// One kind of event across all queues.
    pub fn kind_filter(&self, kind: &str) -> String {
        format!("{}.events.*.{}", self.prefix, kind)
    }

    pub fn all_events_filter(&self) -> String {
        format!("{}.events.>", self.prefix)
    }

    /// A test event's subject (`quarantined`, `unquarantined`).
    pub fn test_event_subject(&self, kind: &str) -> String {
        format!("{}.tests.{}", self.prefix, kind)
    }

    pub fn all_test_events_filter(&self) -> String {
        format!("{}.tests.>", self.prefix)
    }

    /// Whether a message of the events stream is a test event.
    pub fn is_test_event_subject(&self, subject: &str) -> bool {
        subject
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix(".tests."))
            .is_some()
    }

    /// A bisect event's subject.
    pub fn bisect_event_subject(&self, bisect: &BisectId, kind: &str) -> String {
        format!("{}.bisect.{}.{}", self.prefix, bisect, kind)
    }

    pub fn all_bisect_events_filter(&self) -> String {
        format!("{}.bisect.>", self.prefix)
    }

    /// Whether a message of the events stream is a bisect event.
    pub fn is_bisect_event_subject(&self, subject: &str) -> bool {
        subject
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix(".bisect."))
            .is_some()
    }

    /// A worker event's subject (`drained`, `quarantined`, `readmitted`, `offline`).
    pub fn worker_event_subject(&self, worker: &str, kind: &str) -> String {
        format!("{}.workers.{}.{}", self.prefix, worker, kind)
    }

    pub fn all_worker_events_filter(&self) -> String {
        format!("{}.workers.>", self.prefix)
    }

    /// Whether a message of the events stream is a worker event.
    pub fn is_worker_event_subject(&self, subject: &str) -> bool {
        subject
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix(".workers."))
            .is_some()
    }

    /// A board event's subject: `<prefix>.boards.<worker>.<board>.<kind>`.
    pub fn board_event_subject(&self, worker: &str, board: &BoardName, kind: &str) -> String {
        format!("{}.boards.{}.{}.{}", self.prefix, worker, board, kind)
    }

    pub fn all_board_events_filter(&self) -> String {
        format!("{}.boards.>", self.prefix)
    }

    /// Whether a message of the events stream is a board event.
    pub fn is_board_event_subject(&self, subject: &str) -> bool {
        subject
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix(".boards."))
            .is_some()
    }

    /// Core NATS, not stored: the bytes a board's serial prints, as its
    /// worker reads them.
    pub fn console_out_subject(&self, worker: &str, board: &BoardName) -> String {
        format!("{}.console.{}.{}.out", self.prefix, worker, board)
    }

    /// Core NATS, not stored: bytes for a board's serial, from the
    /// gateway's console of the board's reserver.
    pub fn console_in_subject(&self, worker: &str, board: &BoardName) -> String {
        format!("{}.console.{}.{}.in", self.prefix, worker, board)
    }

    /// A filter that matches every subject of the events stream (in that
    /// stream; the logs stream has its own).
    pub fn events_stream_filter(&self) -> String {
        format!("{}.>", self.prefix)
    }

    /// Every subject the events stream holds: queues', tests', bisects'
    /// and workers' events.
    pub fn events_stream_subjects(&self) -> Vec<String> {
        vec![
            self.all_events_filter(),
            self.all_test_events_filter(),
            self.all_bisect_events_filter(),
            self.all_worker_events_filter(),
            self.all_board_events_filter(),
        ]
    }

    pub fn log_subject(&self, queue_id: &QueueId) -> String {
        format!("{}.logs.{}", self.prefix, queue_id)
    }

    pub fn all_logs_filter(&self) -> String {
        format!("{}.logs.>", self.prefix)
    }

    /// Where the gateway asks a scheduler about waiting queues.
    pub fn scheduler_waiting_subject(&self) -> String {
        format!("{}.scheduler.waiting", self.prefix)
    }

    pub fn applied_subject(&self, projector: &str) -> String {
        format!("{}.applied.{}", self.prefix, projector)
    }

    /// Where a projector that cannot write its views says why (an empty
    /// message: it applies again); core NATS, for the gateway's `/readyz`.
    pub fn projector_stall_subject(&self, projector: &str) -> String {
        format!("{}.stalled", self.applied_subject(projector))
    }

    /// The queue id in an event or log subject, if the subject is one of ours.
    pub fn queue_id_of_subject(&self, subject: &str) -> Option<QueueId> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix('.')?;
        let mut tokens = rest.split('.');
        match tokens.next()? {
            "events" | "logs" => QueueId::parse(tokens.next()?).ok(),
            _ => None,
        }
    }

    /// The stream behind the shared build cache bucket.
    pub fn builds_stream(&self) -> String {
        format!("OBJ_{}", self.builds_bucket)
    }

    pub fn snapshots_stream(&self) -> String {
        format!("OBJ_{}", self.snapshots_bucket)
    }

    /// Where a shard of a sharded queue claims the queue's one build.
    pub fn build_claim_subject(&self, queue_id: &QueueId) -> String {
        self.event_subject(queue_id, "build_claimed")
    }

    /// The stream behind the artifacts bucket.
    pub fn artifacts_stream(&self) -> String {
        format!("OBJ_{}", self.artifacts_bucket)
    }

    /// An artifact's object: one prefix per queue, so a retried run
    /// replaces its predecessor's file of the same name.
    pub fn artifact_object(&self, queue_id: &QueueId, name: &str) -> String {
        format!("{queue_id}/{name}")
    }

    /// The durable consumer all workers shared before the dispatcher;
    /// `testarena init` removes it.
    pub fn legacy_worker_consumer(&self) -> String {
        format!("{}_workers", self.prefix.replace('.', "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_nest_under_the_prefix() {
        let names = ArenaNames::new("lab.a");
        let id = QueueId::parse("q1").unwrap();
        assert_eq!(names.events_stream, "LAB_A_EVENTS");
        assert_eq!(names.artifacts_stream(), "OBJ_LAB_A_ARTIFACTS");
        assert_eq!(names.artifact_object(&id, "t1/out.txt"), "q1/t1/out.txt");
        assert_eq!(
            names.event_subject(&id, "started"),
            "lab.a.events.q1.started"
        );
        assert_eq!(names.log_subject(&id), "lab.a.logs.q1");
        assert_eq!(names.queue_id_of_subject("lab.a.logs.q1"), Some(id.clone()));
        assert_eq!(
            names.queue_id_of_subject("lab.a.events.q1.started"),
            Some(id)
        );
        assert_eq!(names.queue_id_of_subject("other.logs.q1"), None);
        assert_eq!(
            names.test_event_subject("quarantined"),
            "lab.a.tests.quarantined"
        );
        assert!(names.is_test_event_subject("lab.a.tests.quarantined"));
        assert!(!names.is_test_event_subject("lab.a.events.tests.quarantined"));
        let bisect = BisectId::parse("b1").unwrap();
        assert_eq!(
            names.bisect_event_subject(&bisect, "requested"),
            "lab.a.bisect.b1.requested"
        );
        assert!(names.is_bisect_event_subject("lab.a.bisect.b1.ended"));
        assert_eq!(names.queue_id_of_subject("lab.a.bisect.b1.ended"), None);
        assert_eq!(
            names.worker_event_subject("w1", "drained"),
            "lab.a.workers.w1.drained"
        );
        assert!(names.is_worker_event_subject("lab.a.workers.w1.offline"));
        assert!(!names.is_worker_event_subject("lab.a.fleet.w1.drain"));
    }
}
