//! Pure: which log batches belong to the log a reader follows. A run that
//! was presumed dead and woke up (a paused worker) can publish lines of its
//! attempt after its successor's; once a newer attempt of a queue (of its
//! shard, for a sharded queue) has a line in the log, an older attempt's
//! batches are left out of it. `queue_log.txt` and the live SSE stream go by
//! this; `GET /api/queue/{id}/log?attempt=N` still serves every attempt.

use std::collections::BTreeMap;

use crate::LogBatch;

/// The newest attempt with a line in the log, per shard (`None`: an
/// unsharded queue).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogAttempts {
    newest: BTreeMap<Option<u8>, u32>,
}

impl LogAttempts {
    /// From what was stored: (shard, newest attempt) pairs.
    pub fn from_newest(pairs: impl IntoIterator<Item = (Option<u8>, u32)>) -> Self {
        Self {
            newest: pairs.into_iter().collect(),
        }
    }

    /// Whether `batch` goes into the log; a batch of a newer attempt makes
    /// that attempt the newest of its shard.
    pub fn admit(&mut self, batch: &LogBatch) -> bool {
        let newest = self.newest.entry(batch.shard).or_insert(batch.attempt);
        if batch.attempt < *newest {
            return false;
        }
        *newest = batch.attempt;
        true
    }

    /// The newest attempt of `shard` seen so far.
    pub fn newest(&self, shard: Option<u8>) -> Option<u32> {
        self.newest.get(&shard).copied()
    }

    /// Every (shard, newest attempt) pair, to store.
    pub fn pairs(&self) -> impl Iterator<Item = (Option<u8>, u32)> + '_ {
        self.newest
            .iter()
            .map(|(shard, attempt)| (*shard, *attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{QueueId, WIRE_VERSION};

    fn batch(attempt: u32, shard: Option<u8>) -> LogBatch {
        LogBatch {
            v: WIRE_VERSION,
            queue_id: QueueId::parse("q").unwrap(),
            attempt,
            shard,
            lines: vec![],
        }
    }

    #[test]
    fn an_older_attempt_is_left_out_once_a_newer_one_has_a_line() {
        let mut log = LogAttempts::default();
        assert!(log.admit(&batch(1, None)));
        assert!(log.admit(&batch(1, None)), "its own lines go on");
        assert!(log.admit(&batch(2, None)), "the next attempt's first line");
        assert!(!log.admit(&batch(1, None)), "the paused run's late line");
        assert!(log.admit(&batch(2, None)));
        assert_eq!(log.newest(None), Some(2));
    }

    #[test]
    fn shards_count_their_attempts_apart() {
        let mut log = LogAttempts::default();
        assert!(log.admit(&batch(2, Some(0))));
        assert!(log.admit(&batch(1, Some(1))), "shard 1's first attempt");
        assert!(!log.admit(&batch(1, Some(0))));
        let stored = LogAttempts::from_newest(log.pairs().collect::<Vec<_>>());
        assert_eq!(stored, log, "stored and read back, it says the same");
    }
}
