//! Pure: an order-statistic set of stream sequences. `rank` (members at or
//! below a sequence) and `select` (the k-th member) cost O(log n), which is
//! what lets the dispatcher find an owner's k-th waiting queue without
//! walking the others.
//!
//! Sequences come in stream order, so each one known gets a slot at the end
//! of a sorted vector, and a Fenwick tree counts which slots are members. A
//! slot stays while its sequence is known (a dispatched queue may want a
//! slot again); a forgotten one is dropped when they outnumber the rest, so
//! the cost stays amortised O(log n) and memory follows the known queues.

/// What a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Member,
    /// Known, not a member now.
    Absent,
    /// No longer known: dropped at the next compaction.
    Forgotten,
}

#[derive(Debug, Default)]
pub(super) struct RankedSeqs {
    /// Sorted, one per sequence.
    seqs: Vec<u64>,
    slots: Vec<Slot>,
    /// Fenwick tree over `slots` (1-based): members per range.
    tree: Vec<u32>,
    members: usize,
    forgotten: usize,
}

impl RankedSeqs {
    pub fn len(&self) -> usize {
        self.members
    }

    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// Whether the set holds no slot at all (every sequence forgotten).
    pub fn is_unused(&self) -> bool {
        self.seqs.len() == self.forgotten
    }

    /// Makes `seq` known (if it was not) and a member or not.
    pub fn set(&mut self, seq: u64, member: bool) {
        let at = match self.slot_of(seq) {
            Some(at) => at,
            None => self.add_slot(seq),
        };
        let was = self.slots[at];
        let now = if member { Slot::Member } else { Slot::Absent };
        self.change(at, was, now);
    }

    /// `seq` is no longer known.
    pub fn forget(&mut self, seq: u64) {
        let Some(at) = self.slot_of(seq) else {
            return;
        };
        let was = self.slots[at];
        if was == Slot::Forgotten {
            return;
        }
        self.change(at, was, Slot::Forgotten);
        self.forgotten += 1;
        if self.forgotten > 32 && self.forgotten * 2 > self.seqs.len() {
            self.compact();
        }
    }

    /// How many members are at or below `seq`.
    pub fn rank(&self, seq: u64) -> usize {
        self.prefix(self.seqs.partition_point(|s| *s <= seq))
    }

    /// The `k`-th member (1-based) in increasing order.
    pub fn select(&self, k: usize) -> Option<u64> {
        if k == 0 || k > self.members {
            return None;
        }
        // Descend the tree: the largest position whose prefix is below k.
        let mut pos = 0;
        let mut left = k;
        let mut step = self.tree.len().next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next < self.tree.len() && (self.tree[next] as usize) < left {
                pos = next;
                left -= self.tree[next] as usize;
            }
            step /= 2;
        }
        self.seqs.get(pos).copied()
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.slot_of(seq)
            .is_some_and(|at| self.slots[at] == Slot::Member)
    }

    /// The first member.
    pub fn first(&self) -> Option<u64> {
        self.select(1)
    }

    /// The first member above `seq`.
    pub fn next_after(&self, seq: u64) -> Option<u64> {
        self.select(self.rank(seq) + 1)
    }

    fn slot_of(&self, seq: u64) -> Option<usize> {
        self.seqs.binary_search(&seq).ok()
    }

    /// A new slot, at the end in stream order; out of order (never on the
    /// events stream) the tree is rebuilt.
    fn add_slot(&mut self, seq: u64) -> usize {
        if self.seqs.last().is_some_and(|last| *last > seq) {
            let at = self.seqs.partition_point(|s| *s < seq);
            self.seqs.insert(at, seq);
            self.slots.insert(at, Slot::Absent);
            self.rebuild();
            return at;
        }
        self.seqs.push(seq);
        self.slots.push(Slot::Absent);
        if self.tree.is_empty() {
            self.tree.push(0);
        }
        // The new node covers (i - lowbit(i), i]: the members of the slots
        // before it in that range.
        let i = self.seqs.len();
        let low = i & i.wrapping_neg();
        let covered = self.prefix(i - 1) - self.prefix(i - low);
        self.tree.push(u32::try_from(covered).unwrap_or(u32::MAX));
        i - 1
    }

    fn change(&mut self, at: usize, was: Slot, now: Slot) {
        self.slots[at] = now;
        match (was == Slot::Member, now == Slot::Member) {
            (false, true) => {
                self.members += 1;
                self.add(at + 1, 1);
            }
            (true, false) => {
                self.members -= 1;
                self.add(at + 1, -1);
            }
            _ => {}
        }
    }

    fn add(&mut self, mut i: usize, delta: i32) {
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Members among the first `n` slots.
    fn prefix(&self, mut n: usize) -> usize {
        let mut sum = 0;
        while n > 0 {
            sum += self.tree[n] as usize;
            n -= n & n.wrapping_neg();
        }
        sum
    }

    fn compact(&mut self) {
        let kept: Vec<(u64, Slot)> = self
            .seqs
            .iter()
            .zip(&self.slots)
            .filter(|(_, slot)| **slot != Slot::Forgotten)
            .map(|(seq, slot)| (*seq, *slot))
            .collect();
        (self.seqs, self.slots) = kept.into_iter().unzip();
        self.forgotten = 0;
        self.rebuild();
    }

    /// The tree from `slots`, in O(n).
    fn rebuild(&mut self) {
        let n = self.slots.len();
        self.tree = vec![0; n + 1];
        for i in 1..=n {
            self.tree[i] += u32::from(self.slots[i - 1] == Slot::Member);
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.tree[parent] += self.tree[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same operations on a plain sorted list, compared after each.
    #[test]
    fn ranks_and_selects_as_a_sorted_list_does() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut random = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut set = RankedSeqs::default();
        let mut known: Vec<(u64, bool)> = Vec::new();
        let mut next_seq = 1;
        for _ in 0..20_000 {
            match random(4) {
                0 => {
                    next_seq += 1 + random(3);
                    let member = random(2) == 0;
                    set.set(next_seq, member);
                    known.push((next_seq, member));
                }
                1 if !known.is_empty() => {
                    let at = random(known.len() as u64) as usize;
                    known[at].1 = random(2) == 0;
                    set.set(known[at].0, known[at].1);
                }
                2 if !known.is_empty() => {
                    let at = random(known.len() as u64) as usize;
                    set.forget(known.remove(at).0);
                }
                _ => {}
            }
            let members: Vec<u64> = known.iter().filter(|k| k.1).map(|k| k.0).collect();
            assert_eq!(set.len(), members.len());
            let probe = random(next_seq + 2);
            let rank = members.iter().filter(|s| **s <= probe).count();
            assert_eq!(set.rank(probe), rank, "rank of {probe}");
            let k = random(members.len() as u64 + 2) as usize;
            let expected = k.checked_sub(1).and_then(|i| members.get(i)).copied();
            assert_eq!(set.select(k), expected, "select {k}");
            let after = members.iter().find(|s| **s > probe).copied();
            assert_eq!(set.next_after(probe), after);
        }
    }

    #[test]
    fn a_sequence_out_of_stream_order_still_takes_its_place() {
        let mut set = RankedSeqs::default();
        set.set(10, true);
        set.set(30, true);
        set.set(20, true);
        assert_eq!(
            (set.select(1), set.select(2), set.select(3)),
            (Some(10), Some(20), Some(30))
        );
        assert_eq!(set.rank(25), 2);
    }
}
