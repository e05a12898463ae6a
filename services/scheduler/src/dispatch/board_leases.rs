//! Which board each running shard holds, and which boards are reserved,
//! folded from the events stream: a lease is what a `dispatched` event
//! names (so every scheduler, and one restarted, agrees), a reservation
//! what the `reserved`/`released`/`expired` board events say. A board is
//! free when nobody holds it and its reservation (if any) ran out; a
//! reservation never takes a board from the shard running on it.
//!
//! It also keeps the board events owed to the boards view (leased,
//! released, expired) until they are published or read back.

use std::collections::{BTreeMap, HashMap};

use testarena_events::{BoardEvent, BoardEventBody, BoardName, QueueId};

use super::board_notice::{BoardNotice, LeaseRef};

/// A board: its worker and its name.
pub type BoardKey = (String, BoardName);

/// A shard holding a board.
#[derive(Debug, Clone)]
struct Holder {
    queue: QueueId,
    shard: usize,
    /// The shard as events name it (`None`: the queue is not sharded).
    label: Option<u8>,
    /// Stream sequence of the `dispatched` event; 0 for a dispatch this
    /// plan decided and has not read back.
    seq: u64,
    /// Some scheduler already published its `released` (one that found its
    /// worker gone before this one, replaying, does): not owed again.
    released: bool,
}

#[derive(Debug, Clone, Copy)]
struct Reservation {
    until_ms: u64,
    /// This scheduler published its `expired` (not read back yet).
    expiry_published: bool,
}

#[derive(Debug, Default)]
pub struct BoardLeases {
    /// Usually one holder per board; two only when two schedulers raced
    /// to give it, and then it is free once both ended.
    holders: BTreeMap<BoardKey, Vec<Holder>>,
    /// Per queue, per shard index, the board it holds.
    of_shard: HashMap<QueueId, BTreeMap<usize, BoardKey>>,
    /// Per worker, how many shards hold one of its boards (they take no
    /// slot).
    per_worker: HashMap<String, u32>,
    reservations: BTreeMap<BoardKey, Reservation>,
    /// Leased and released events to publish, in the order decided.
    pending: Vec<BoardNotice>,
}

impl BoardLeases {
    /// Shard `shard` of `queue` now holds `board` (ending what it held).
    pub fn lease(
        &mut self,
        queue: &QueueId,
        shard: usize,
        label: Option<u8>,
        board: BoardKey,
        seq: u64,
    ) {
        self.end(queue, shard);
        if seq > 0 {
            self.pending
                .push(BoardNotice::Leased(lease_ref(&board, queue, label, seq)));
        }
        *self.per_worker.entry(board.0.clone()).or_default() += 1;
        self.of_shard
            .entry(queue.clone())
            .or_default()
            .insert(shard, board.clone());
        self.holders.entry(board).or_default().push(Holder {
            queue: queue.clone(),
            shard,
            label,
            seq,
            released: false,
        });
    }

    /// Shard `shard` of `queue` holds no board any more. Cheap when no
    /// board is leased: the path of every queue without boards.
    pub fn end(&mut self, queue: &QueueId, shard: usize) {
        if self.of_shard.is_empty() {
            return;
        }
        let Some(shards) = self.of_shard.get_mut(queue) else {
            return;
        };
        let Some(board) = shards.remove(&shard) else {
            return;
        };
        if shards.is_empty() {
            self.of_shard.remove(queue);
        }
        if let Some(count) = self.per_worker.get_mut(&board.0) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_worker.remove(&board.0);
            }
        }
        let Some(holders) = self.holders.get_mut(&board) else {
            return;
        };
        if let Some(at) = holders
            .iter()
            .position(|h| h.shard == shard && &h.queue == queue)
        {
            let holder = holders.remove(at);
            if holder.seq > 0 && !holder.released {
                let lease = lease_ref(&board, queue, holder.label, holder.seq);
                self.pending.push(BoardNotice::Released(lease));
            }
        }
        if holders.is_empty() {
            self.holders.remove(&board);
        }
    }

    /// Every board `queue` holds is released.
    pub fn end_queue(&mut self, queue: &QueueId) {
        let shards: Vec<usize> = match self.of_shard.get(queue) {
            Some(shards) => shards.keys().copied().collect(),
            None => return,
        };
        for shard in shards {
            self.end(queue, shard);
        }
    }

    /// How many of `worker`'s boards are held.
    pub fn held_on(&self, worker: &str) -> u32 {
        self.per_worker.get(worker).copied().unwrap_or(0)
    }

    pub fn is_held(&self, board: &BoardKey) -> bool {
        self.holders.contains_key(board)
    }

    /// Reserved and not yet run out at `now_ms`.
    pub fn is_reserved(&self, board: &BoardKey, now_ms: u64) -> bool {
        self.reservations
            .get(board)
            .is_some_and(|r| now_ms < r.until_ms)
    }

    /// Folds a board event: reservations start and end; a lease event read
    /// back is no longer owed.
    pub fn apply(&mut self, event: &BoardEvent) {
        let key = (event.worker.clone(), event.board.clone());
        match &event.body {
            BoardEventBody::Reserved { until_ms, .. } => {
                let reservation = Reservation {
                    until_ms: *until_ms,
                    expiry_published: false,
                };
                self.reservations.insert(key, reservation);
            }
            BoardEventBody::Released { queue: None } => {
                self.reservations.remove(&key);
            }
            // A renewed reservation outlives the old one's expiry.
            BoardEventBody::Expired { until_ms }
                if self.reservations.get(&key).map(|r| r.until_ms) == Some(*until_ms) =>
            {
                self.reservations.remove(&key);
            }
            BoardEventBody::Leased { queue, shard } => self.pending.retain(|n| {
                !matches!(n, BoardNotice::Leased(l) if l.worker == key.0 && l.board == key.1
                    && &l.queue == queue && l.shard == *shard)
            }),
            BoardEventBody::Released { queue: Some(queue) } => {
                let owed = self.pending.len();
                self.pending.retain(|n| {
                    !matches!(n, BoardNotice::Released(l) if l.worker == key.0 && l.board == key.1
                        && &l.queue == queue)
                });
                // Not one this plan owes: the release of a lease it still
                // holds (a scheduler that found the worker gone first).
                // One it owed was of an ended lease, maybe of this very
                // queue and board given again since: that one stays owed.
                if self.pending.len() == owed {
                    let holders = self.holders.get_mut(&key).into_iter().flatten();
                    for holder in holders.filter(|h| &h.queue == queue) {
                        holder.released = true;
                    }
                }
            }
            _ => {}
        }
    }

    /// What to publish now: the lease events owed, then an `expired` for
    /// each reservation run out at `now_ms`.
    pub fn notices(&self, now_ms: u64) -> Vec<BoardNotice> {
        let mut notices = self.pending.clone();
        let expired = self
            .reservations
            .iter()
            .filter(|(_, r)| now_ms >= r.until_ms && !r.expiry_published);
        notices.extend(expired.map(|((worker, board), r)| BoardNotice::Expired {
            worker: worker.clone(),
            board: board.clone(),
            until_ms: r.until_ms,
        }));
        notices
    }

    /// `notice` was stored: not owed any more.
    pub fn published(&mut self, notice: &BoardNotice) {
        match notice {
            BoardNotice::Expired {
                worker,
                board,
                until_ms,
            } => {
                let key = (worker.clone(), board.clone());
                if let Some(r) = self.reservations.get_mut(&key) {
                    r.expiry_published |= r.until_ms == *until_ms;
                }
            }
            _ => self.pending.retain(|n| n != notice),
        }
    }
}

fn lease_ref(board: &BoardKey, queue: &QueueId, shard: Option<u8>, seq: u64) -> LeaseRef {
    LeaseRef {
        worker: board.0.clone(),
        board: board.1.clone(),
        queue: queue.clone(),
        shard,
        dispatch_seq: seq,
    }
}
