//! Pure: the queues that want a slot, indexed so the next one for a free
//! slot is found without touching the rest.
//!
//! The order is `(priority, turn, owner last served, submit sequence)`,
//! where a queue's turn is its rank among its owner's wanting queues of its
//! priority. Each (priority, owner) and each (priority, owner, pool) keeps
//! its queues' sequences in a [`RankedSeqs`]; a pool is a routing key
//! (profile and `requires`), what decides which workers may take a queue.
//! A walk merges the (priority, owner, pool) lists in that order with a
//! heap, one step O(log n); a pool no free slot can take is left out as a
//! whole, so queues nobody can run now are never walked over.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use testarena_events::{Label, Owner, Priority, ProfileName};

use super::ranked_seqs::RankedSeqs;

/// What decides who may run a queue: its profile and its `requires`.
pub(super) type PoolKey = (Option<ProfileName>, Vec<Label>);

/// A pool, interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct PoolId(u32);

/// Where a queue stands in the order: priority, its turn, when its owner
/// was last served, submit order.
pub(super) type TurnKey = (Priority, usize, u64, u64);

/// A queue as the index files it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub priority: Priority,
    pub owner: Owner,
    pub pool: PoolId,
    pub seq: u64,
}

#[derive(Debug, Default)]
pub(super) struct WantingOrder {
    pools: HashMap<PoolKey, PoolId>,
    /// Per (priority, owner): every known queue, a member while it wants.
    by_owner: BTreeMap<(Priority, Owner), RankedSeqs>,
    /// The same, per pool too.
    by_owner_pool: BTreeMap<(Priority, Owner, PoolId), RankedSeqs>,
}

impl WantingOrder {
    /// The pool of `key`, interned on first sight.
    pub fn pool(&mut self, key: PoolKey) -> PoolId {
        let next = PoolId(u32::try_from(self.pools.len()).unwrap_or(u32::MAX));
        *self.pools.entry(key).or_insert(next)
    }

    /// Whether `entry` wants a slot now.
    pub fn set_wanting(&mut self, entry: &Entry, wanting: bool) {
        let owner_key = (entry.priority, entry.owner.clone());
        self.by_owner
            .entry(owner_key)
            .or_default()
            .set(entry.seq, wanting);
        let pool_key = (entry.priority, entry.owner.clone(), entry.pool);
        self.by_owner_pool
            .entry(pool_key)
            .or_default()
            .set(entry.seq, wanting);
    }

    /// `entry`'s queue is over: its slots go.
    pub fn forget(&mut self, entry: &Entry) {
        let owner_key = (entry.priority, entry.owner.clone());
        if let Some(set) = self.by_owner.get_mut(&owner_key) {
            set.forget(entry.seq);
            if set.is_unused() {
                self.by_owner.remove(&owner_key);
            }
        }
        let pool_key = (entry.priority, entry.owner.clone(), entry.pool);
        if let Some(set) = self.by_owner_pool.get_mut(&pool_key) {
            set.forget(entry.seq);
            if set.is_unused() {
                self.by_owner_pool.remove(&pool_key);
            }
        }
    }

    /// Where a wanting queue of `owner` at `priority` with sequence `seq`
    /// stands; `served` says when an owner was last served.
    fn key(&self, priority: Priority, owner: &Owner, seq: u64, served: u64) -> TurnKey {
        let turn = self
            .by_owner
            .get(&(priority, owner.clone()))
            .map_or(0, |set| set.rank(seq));
        (priority, turn, served, seq)
    }

    /// The wanting queues in order, pool by pool as the caller allows.
    pub fn walk<'a>(&'a self, served: &'a HashMap<Owner, u64>) -> Walk<'a> {
        let mut walk = Walk {
            order: self,
            served,
            heap: BinaryHeap::new(),
            blocked: HashSet::new(),
        };
        for ((priority, owner, pool), set) in &self.by_owner_pool {
            if let Some(seq) = set.first() {
                walk.push(*priority, owner, *pool, seq);
            }
        }
        walk
    }

    /// 1 + how many wanting queues of `entry`'s pool come before it.
    pub fn position(&self, entry: &Entry, served: &HashMap<Owner, u64>) -> usize {
        let served_of = |o: &Owner| served.get(o).copied().unwrap_or(0);
        let own = self.key(
            entry.priority,
            &entry.owner,
            entry.seq,
            served_of(&entry.owner),
        );
        let (_, turn, _, _) = own;
        let mut before = 0;
        for ((priority, owner, pool), set) in &self.by_owner_pool {
            if *pool != entry.pool || *priority > entry.priority || set.is_empty() {
                continue;
            }
            if *priority < entry.priority {
                before += set.len();
                continue;
            }
            let Some(all) = self.by_owner.get(&(*priority, owner.clone())) else {
                continue;
            };
            // Its queues of earlier turns, then the one of this turn.
            let earlier = turn.saturating_sub(1);
            before += match all.select(earlier) {
                Some(last_earlier) => set.rank(last_earlier),
                None if earlier == 0 => 0,
                None => set.len(),
            };
            let Some(same_turn) = all.select(turn) else {
                continue;
            };
            if set.contains(same_turn) && (served_of(owner), same_turn) < (own.2, own.3) {
                before += 1;
            }
        }
        before + 1
    }
}

/// One pass over the wanting queues in order; a pool blocked on the way is
/// skipped from then on. The index does not change while it walks.
pub(super) struct Walk<'a> {
    order: &'a WantingOrder,
    served: &'a HashMap<Owner, u64>,
    heap: BinaryHeap<Reverse<(TurnKey, PoolId, &'a Owner)>>,
    blocked: HashSet<PoolId>,
}

impl<'a> Walk<'a> {
    fn push(&mut self, priority: Priority, owner: &'a Owner, pool: PoolId, seq: u64) {
        let served = self.served.get(owner).copied().unwrap_or(0);
        let key = self.order.key(priority, owner, seq, served);
        self.heap.push(Reverse((key, pool, owner)));
    }

    /// The next wanting queue's sequence and pool.
    pub fn next(&mut self) -> Option<(u64, PoolId)> {
        loop {
            let Reverse(((priority, _, _, seq), pool, owner)) = self.heap.pop()?;
            if self.blocked.contains(&pool) {
                continue;
            }
            let set = &self.order.by_owner_pool[&(priority, owner.clone(), pool)];
            if let Some(next) = set.next_after(seq) {
                self.push(priority, owner, pool, next);
            }
            return Some((seq, pool));
        }
    }

    /// No free slot takes `pool` any more in this pass.
    pub fn block(&mut self, pool: PoolId) {
        self.blocked.insert(pool);
    }
}
