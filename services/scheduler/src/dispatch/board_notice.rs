//! The board events the scheduler owes the boards view: a lease given, a
//! lease ended, a reservation run out. Each has a message id derived from
//! what it is about, so several schedulers (or one restarted) publishing it
//! again within the stream's duplicate window store it once.

use testarena_events::{BoardEvent, BoardEventBody, BoardName, QueueId};

/// Who publishes these, in `BoardEvent::by`.
pub const BY: &str = "scheduler";

/// One lease as its `dispatched` event made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRef {
    pub worker: String,
    pub board: BoardName,
    pub queue: QueueId,
    /// The shard of a sharded queue.
    pub shard: Option<u8>,
    /// The stream sequence of the `dispatched` event that gave it.
    pub dispatch_seq: u64,
}

/// A board event the plan decided and the dispatcher publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardNotice {
    Leased(LeaseRef),
    Released(LeaseRef),
    Expired {
        worker: String,
        board: BoardName,
        until_ms: u64,
    },
}

impl BoardNotice {
    /// Derived from the lease (queue, shard, dispatch sequence) or the
    /// reservation's end: the same decision always has the same id.
    pub fn message_id(&self) -> String {
        let lease_id = |kind: &str, l: &LeaseRef| {
            let shard = l.shard.map_or_else(|| "-".to_owned(), |s| s.to_string());
            format!(
                "board-{kind}.{}.{}.{}.{shard}.{}",
                l.worker, l.board, l.queue, l.dispatch_seq
            )
        };
        match self {
            Self::Leased(lease) => lease_id("leased", lease),
            Self::Released(lease) => lease_id("released", lease),
            Self::Expired {
                worker,
                board,
                until_ms,
            } => format!("board-expired.{worker}.{board}.{until_ms}"),
        }
    }

    pub fn event(&self) -> BoardEvent {
        let (worker, board, body) = match self {
            Self::Leased(l) => (
                &l.worker,
                &l.board,
                BoardEventBody::Leased {
                    queue: l.queue.clone(),
                    shard: l.shard,
                },
            ),
            Self::Released(l) => (
                &l.worker,
                &l.board,
                BoardEventBody::Released {
                    queue: Some(l.queue.clone()),
                },
            ),
            Self::Expired {
                worker,
                board,
                until_ms,
            } => (
                worker,
                board,
                BoardEventBody::Expired {
                    until_ms: *until_ms,
                },
            ),
        };
        BoardEvent::new(worker.clone(), board.clone(), BY, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(seq: u64) -> LeaseRef {
        LeaseRef {
            worker: "w1".into(),
            board: BoardName::parse("nucleo-1").unwrap(),
            queue: QueueId::parse("q").unwrap(),
            shard: Some(2),
            dispatch_seq: seq,
        }
    }

    #[test]
    fn ids_name_the_lease_and_differ_by_kind_and_dispatch() {
        let leased = BoardNotice::Leased(lease(7));
        assert_eq!(leased.message_id(), "board-leased.w1.nucleo-1.q.2.7");
        assert_ne!(
            leased.message_id(),
            BoardNotice::Released(lease(7)).message_id()
        );
        assert_ne!(
            leased.message_id(),
            BoardNotice::Leased(lease(8)).message_id()
        );
        let event = BoardNotice::Released(lease(7)).event();
        assert_eq!(event.by, "scheduler");
        assert_eq!(
            event.body,
            BoardEventBody::Released {
                queue: Some(QueueId::parse("q").unwrap())
            }
        );
    }
}
