//! The dispatcher's decisions, pure: which waiting queue goes to which
//! worker, in what order, and what a waiting queue's view says about it.
//!
//! Order: `high` before `normal` before `low`; within a priority, owners
//! take turns (each owner's oldest waiting queue first, then each one's
//! second, …), ties by submit order. A queue goes to a live worker that
//! admits its profile and has every label it requires, with a free slot
//! (slots minus the queues dispatched to it and not finished); of several,
//! the one with the most free slots. A queue whose profile a worker runs
//! on boards takes no slot there but a free board of it that fits
//! (board_leases.rs, free_boards.rs); one shard per board at a time.
//!
//! Every event and decision costs O(log n) in the waiting queues: the
//! order is an index ([`WantingOrder`]) kept as queues change, each
//! worker's assigned shards are kept with it, and the waiting count too.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use testarena_events::{
    describe_needs, BoardEvent, BoardName, Event, EventBody, Label, Owner, Priority,
    ProfileAdmission, ProfileName, QueueId, TaskId, WaitingInfo, WorkerRecord,
};

use super::board_leases::BoardLeases;
use super::board_notice::BoardNotice;
use super::free_boards::FreeBoards;
use super::wanting_order::{Entry, PoolId, WantingOrder};

/// One queue the dispatcher knows and has not seen finish.
#[derive(Debug, Clone)]
struct Queue {
    submitted_seq: u64,
    profile: Option<ProfileName>,
    requires: Vec<Label>,
    pool: PoolId,
    priority: Priority,
    owner: Owner,
    /// One for an unsharded queue; at most one per task.
    shards: Vec<Shard>,
    tasks: usize,
    /// Tasks some shard of a sharded queue claimed.
    claimed: HashSet<TaskId>,
    /// Stream sequence of its last `dispatched` event; 0 when none.
    last_dispatch_seq: u64,
    /// Whether the order and the waiting count last filed it as wanting a
    /// slot and as waiting.
    filed_wanting: bool,
    filed_waiting: bool,
}

/// One shard of a queue (the whole queue when it is not sharded).
#[derive(Debug, Clone, Default)]
struct Shard {
    /// The worker it was last dispatched to, while that worker owes it.
    assigned: Option<String>,
    /// It was dispatched once: given again when its worker goes, even if
    /// every task is claimed (its own claims may be unfinished).
    dispatched: bool,
    /// The highest attempt a `started` event of it said.
    attempts: u32,
    /// A `shard_finished` said it ran out of tasks.
    done: bool,
}

impl Queue {
    /// A queue as its `submitted` event makes it; `None` for other events.
    fn submitted(seq: u64, body: &EventBody, order: &mut WantingOrder) -> Option<Self> {
        let EventBody::Submitted {
            profile,
            requires,
            priority,
            owner,
            tasks,
            shards,
            ..
        } = body
        else {
            return None;
        };
        let shards = usize::from(*shards).clamp(1, tasks.len().max(1));
        Some(Self {
            submitted_seq: seq,
            profile: profile.clone(),
            requires: requires.clone(),
            pool: order.pool((profile.clone(), requires.clone())),
            priority: *priority,
            owner: owner.clone().unwrap_or_else(Owner::anonymous),
            shards: vec![Shard::default(); shards],
            tasks: tasks.len(),
            claimed: HashSet::new(),
            last_dispatch_seq: 0,
            filed_wanting: false,
            filed_waiting: false,
        })
    }

    /// The shard to dispatch next, if one wants a slot: not assigned, not
    /// done, and either given before or with tasks left to claim.
    fn next_shard(&self) -> Option<usize> {
        let unclaimed = self.claimed.len() < self.tasks;
        self.shards
            .iter()
            .position(|s| s.assigned.is_none() && !s.done && (s.dispatched || unclaimed))
    }

    /// No shard holds it or ever did: still waiting, as the view says.
    fn is_waiting(&self) -> bool {
        self.shards
            .iter()
            .all(|s| !s.dispatched && s.assigned.is_none())
    }

    fn entry(&self) -> Entry {
        Entry {
            priority: self.priority,
            owner: self.owner.clone(),
            pool: self.pool,
            seq: self.submitted_seq,
        }
    }
}

/// A decision to publish: `queue` to `worker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    pub queue: QueueId,
    pub worker: String,
    /// `None` for an unsharded queue.
    pub shard: Option<u8>,
    pub attempt_base: u32,
    pub submitted_seq: u64,
    /// The publish is conditional on this being the queue's last dispatch.
    pub expected_last_dispatch_seq: u64,
    /// The board leased to it, for a queue of a board profile.
    pub board: Option<BoardName>,
}

/// How long a dispatch to a worker this plan has no record of is left
/// alone before its queue is taken back. The events stream and the registry
/// bucket are two streams: another scheduler may have dispatched to a
/// worker whose record this one has not read yet. Several heartbeats.
pub const UNKNOWN_WORKER_GRACE_MS: u64 = 10_000;

#[derive(Debug, Default)]
pub struct Plan {
    queues: HashMap<QueueId, Queue>,
    /// Each known queue by its `submitted` sequence, as the order names it.
    by_seq: HashMap<u64, QueueId>,
    /// The queues wanting a slot, in the order they get one.
    order: WantingOrder,
    /// How many queues wait (no shard ever dispatched).
    waiting: usize,
    /// Per worker, the shards (queue, shard index) it owes; no empty sets.
    assigned: BTreeMap<String, BTreeSet<(QueueId, usize)>>,
    workers: BTreeMap<String, WorkerRecord>,
    /// Workers whose record was deleted (they stopped), until seen again.
    left: HashSet<String>,
    /// Workers dispatched to without a record here, since when (ms).
    unknown_since: HashMap<String, u64>,
    /// The newest `last_seen_ms` of any record, and when the registry last
    /// came back after a silence: a record more than two of its heartbeats
    /// newer than every record before it.
    freshest_ms: u64,
    registry_resumed_ms: u64,
    /// Per owner, the stream sequence of its last dispatch: of two owners
    /// whose turn it is, the one served longer ago goes first.
    last_served: HashMap<Owner, u64>,
    /// Which shard holds which board, and the reservations.
    boards: BoardLeases,
}

impl Plan {
    /// Folds one event of the events stream, at stream sequence `seq`.
    pub fn apply_event(&mut self, seq: u64, event: &Event) {
        let id = &event.queue_id;
        if let Some(queue) = Queue::submitted(seq, &event.body, &mut self.order) {
            if !self.queues.contains_key(id) {
                // Filed now, in stream order, wanting or not.
                self.order.set_wanting(&queue.entry(), false);
                self.by_seq.insert(seq, id.clone());
                self.queues.insert(id.clone(), queue);
                self.refresh(id);
            }
            return;
        }
        let Some(queue) = self.queues.get_mut(id) else {
            return;
        };
        let last_shard = queue.shards.len() - 1;
        let event_shard = usize::from(event.shard.unwrap_or(0)).min(last_shard);
        match &event.body {
            EventBody::Dispatched { worker, board, .. } => {
                queue.shards[event_shard].dispatched = true;
                queue.last_dispatch_seq = seq;
                let label = (last_shard > 0).then(|| shard_label(event_shard));
                self.last_served.insert(queue.owner.clone(), seq);
                self.assign(id, event_shard, Some(worker.clone()));
                if let Some(board) = board {
                    let key = (worker.clone(), board.clone());
                    self.boards.lease(id, event_shard, label, key, seq);
                }
            }
            EventBody::Started { attempt, .. } => {
                let shard = &mut queue.shards[event_shard];
                shard.attempts = shard.attempts.max(*attempt);
            }
            EventBody::TaskClaimed { task_id, .. } => {
                queue.claimed.insert(task_id.clone());
            }
            EventBody::ShardFinished { .. } => {
                queue.shards[event_shard].done = true;
                self.assign(id, event_shard, None);
            }
            EventBody::Finished { .. } => return self.remove(id),
            // A queue no worker ever held is over for the projector at
            // once; one a worker held ends with a worker's `finished`.
            EventBody::CancelRequested { .. } | EventBody::Deleted {} if queue.is_waiting() => {
                return self.remove(id);
            }
            _ => {}
        }
        self.refresh(id);
    }

    /// Files `id` again in the order and the waiting count after a change.
    fn refresh(&mut self, id: &QueueId) {
        let Some(queue) = self.queues.get_mut(id) else {
            return;
        };
        let wanting = queue.next_shard().is_some();
        if wanting != queue.filed_wanting {
            queue.filed_wanting = wanting;
            self.order.set_wanting(&queue.entry(), wanting);
        }
        let waiting = queue.is_waiting();
        if waiting != queue.filed_waiting {
            queue.filed_waiting = waiting;
            if waiting {
                self.waiting += 1;
            } else {
                self.waiting -= 1;
            }
        }
    }

    /// Shard `shard` of `id` is now owed by `worker` (or by none), and
    /// holds no board until leased one again.
    fn assign(&mut self, id: &QueueId, shard: usize, worker: Option<String>) {
        self.boards.end(id, shard);
        let Some(state) = self
            .queues
            .get_mut(id)
            .and_then(|q| q.shards.get_mut(shard))
        else {
            return;
        };
        if let Some(old) = state.assigned.take() {
            unowe(&mut self.assigned, &old, id, shard);
        }
        if let Some(worker) = &worker {
            let owed = self.assigned.entry(worker.clone()).or_default();
            owed.insert((id.clone(), shard));
        }
        state.assigned = worker;
    }

    fn remove(&mut self, id: &QueueId) {
        let Some(queue) = self.queues.remove(id) else {
            return;
        };
        self.order.forget(&queue.entry());
        self.by_seq.remove(&queue.submitted_seq);
        self.boards.end_queue(id);
        if queue.filed_waiting {
            self.waiting -= 1;
        }
        for (shard, state) in queue.shards.iter().enumerate() {
            if let Some(worker) = &state.assigned {
                unowe(&mut self.assigned, worker, id, shard);
            }
        }
    }

    /// A worker's record was put.
    pub fn worker_seen(&mut self, record: WorkerRecord) {
        let gap = record.last_seen_ms.saturating_sub(self.freshest_ms);
        if gap > record.heartbeat_ms.saturating_mul(2) {
            self.registry_resumed_ms = record.last_seen_ms;
        }
        self.freshest_ms = self.freshest_ms.max(record.last_seen_ms);
        self.left.remove(&record.id);
        self.unknown_since.remove(&record.id);
        self.workers.insert(record.id.clone(), record);
    }

    /// A worker's record was deleted: it stopped.
    pub fn worker_left(&mut self, id: &str) {
        self.workers.remove(id);
        self.left.insert(id.to_owned());
    }

    pub fn waiting_count(&self) -> usize {
        self.waiting
    }

    /// Queues whose worker is gone wait again; then every waiting queue
    /// that a free slot (or a free board) can take is dispatched (and
    /// marked so).
    pub fn plan(&mut self, now_ms: u64) -> Vec<Dispatch> {
        self.reclaim_from_gone_workers(now_ms);
        let mut free = self.free_slots(now_ms);
        let mut boards = FreeBoards::of(self.workers.values(), &self.boards, now_ms);
        // Most events change nothing while every slot is taken: no order
        // to walk then.
        if free.values().all(|slots| *slots == 0) && boards.count() == 0 {
            return Vec::new();
        }
        let chosen = self.choose(&mut free, &mut boards);
        let mut dispatches = Vec::with_capacity(chosen.len());
        for (id, shard, worker, board) in chosen {
            self.assign(&id, shard, Some(worker.clone()));
            let queue = &self.queues[&id];
            let sharded = queue.shards.len() > 1;
            let label = sharded.then(|| shard_label(shard));
            // Until its `dispatched` event says where, "just now".
            self.last_served.insert(queue.owner.clone(), u64::MAX);
            dispatches.push(Dispatch {
                queue: id.clone(),
                worker: worker.clone(),
                shard: label,
                attempt_base: queue.shards[shard].attempts,
                submitted_seq: queue.submitted_seq,
                expected_last_dispatch_seq: queue.last_dispatch_seq,
                board: board.clone(),
            });
            if let Some(board) = board {
                // Held from now on, so no later round gives it again
                // before the `dispatched` event is read back.
                self.boards.lease(&id, shard, label, (worker, board), 0);
            }
            self.refresh(&id);
        }
        dispatches
    }

    /// The queues (with the shard) the free slots and boards take, in
    /// order, and on which worker (and board) each. One shard of a queue
    /// per round: each dispatch is conditional on the queue's last one,
    /// which the next round has read back. A pool no free worker takes is
    /// skipped whole: slots and boards are only taken in a round, so it
    /// stays so.
    fn choose(
        &self,
        free: &mut BTreeMap<String, u32>,
        boards: &mut FreeBoards,
    ) -> Vec<(QueueId, usize, String, Option<BoardName>)> {
        let slots = free.values().fold(0u32, |sum, n| sum.saturating_add(*n));
        let mut left = slots.saturating_add(boards.count());
        let mut walk = self.order.walk(&self.last_served);
        let mut chosen = Vec::new();
        while left > 0 {
            let Some((seq, pool)) = walk.next() else {
                break;
            };
            let Some((id, queue)) = self.queue_of(seq) else {
                continue;
            };
            let Some(shard) = queue.next_shard() else {
                continue;
            };
            if let Some(worker) = pick_worker(&self.workers, queue, free) {
                *free.get_mut(&worker).expect("picked from free") -= 1;
                chosen.push((id.clone(), shard, worker, None));
            } else if let Some((worker, board)) = (boards.count() > 0)
                .then(|| boards.take(&self.workers, queue.profile.as_ref(), &queue.requires))
                .flatten()
            {
                chosen.push((id.clone(), shard, worker, Some(board)));
            } else {
                walk.block(pool);
                continue;
            }
            left -= 1;
        }
        chosen
    }

    /// The queue the order names by its `submitted` sequence.
    fn queue_of(&self, seq: u64) -> Option<(&QueueId, &Queue)> {
        let id = self.by_seq.get(&seq)?;
        Some((id, self.queues.get(id)?))
    }

    /// A dispatch that could not be published: the queue waits again —
    /// unless a `dispatched` of it was read since it was decided (a
    /// publish that timed out may still have been stored, or another
    /// scheduler's won): that one says who holds it.
    pub fn undo(&mut self, dispatch: &Dispatch) {
        let Some(queue) = self.queues.get(&dispatch.queue) else {
            return;
        };
        if queue.last_dispatch_seq != dispatch.expected_last_dispatch_seq {
            return;
        }
        let shard = usize::from(dispatch.shard.unwrap_or(0));
        let held = queue.shards.get(shard).and_then(|s| s.assigned.as_deref());
        if held == Some(dispatch.worker.as_str()) {
            self.assign(&dispatch.queue, shard, None);
            self.refresh(&dispatch.queue);
        }
    }

    /// A worker is gone when its record says it stopped beating, when the
    /// record was deleted, or when no record of it came within
    /// [`UNKNOWN_WORKER_GRACE_MS`] of this plan first needing one.
    fn reclaim_from_gone_workers(&mut self, now_ms: u64) {
        let assigned = &self.assigned;
        self.unknown_since.retain(|w, _| assigned.contains_key(w));
        let owing: Vec<String> = self.assigned.keys().cloned().collect();
        for worker in owing {
            if !self.is_gone(&worker, now_ms) {
                continue;
            }
            for (id, shard) in self.assigned.remove(&worker).unwrap_or_default() {
                if let Some(state) = self
                    .queues
                    .get_mut(&id)
                    .and_then(|q| q.shards.get_mut(shard))
                {
                    state.assigned = None;
                }
                self.boards.end(&id, shard);
                self.refresh(&id);
            }
        }
    }

    fn is_gone(&mut self, worker: &str, now_ms: u64) -> bool {
        if let Some(record) = self.workers.get(worker) {
            if record.left_ms.is_some() {
                return true;
            }
            return !record.is_live(now_ms) && self.registry_moved_on_from(record);
        }
        if self.left.contains(worker) {
            return true;
        }
        let since = *self
            .unknown_since
            .entry(worker.to_owned())
            .or_insert(now_ms);
        now_ms.saturating_sub(since) >= UNKNOWN_WORKER_GRACE_MS
    }

    /// Whether the registry has shown records for long enough after
    /// `record` that its worker's silence is its own: a record of some
    /// worker three of its heartbeats after its last one, and two of its
    /// heartbeats after the registry last came back from a silence. When
    /// the registry itself went quiet (a cluster electing the bucket's
    /// leader, a stalled watch) every worker looks silent; when it comes
    /// back, the first record heard is no proof the others are gone — their
    /// next heartbeat may be a few milliseconds behind it — and taking their
    /// running queues back would run them twice.
    fn registry_moved_on_from(&self, record: &WorkerRecord) -> bool {
        let heartbeats = |n: u64| record.heartbeat_ms.saturating_mul(n);
        let silent_after = record.last_seen_ms.saturating_add(heartbeats(3));
        let settled_after = self.registry_resumed_ms.saturating_add(heartbeats(2));
        self.freshest_ms > silent_after.max(settled_after)
    }

    fn free_slots(&self, now_ms: u64) -> BTreeMap<String, u32> {
        self.workers
            .values()
            .filter(|w| w.is_live(now_ms))
            .map(|w| {
                let owed = self.assigned.get(&w.id).map_or(0, BTreeSet::len);
                // Shards on its boards take no slot.
                let owed = u32::try_from(owed)
                    .unwrap_or(u32::MAX)
                    .saturating_sub(self.boards.held_on(&w.id));
                (w.id.clone(), w.slots.saturating_sub(owed))
            })
            .collect()
    }

    /// For each of `ids` that waits: its place among the waiting queues
    /// that ask for the same profile and labels, and why it has not
    /// started.
    pub fn waiting_infos(&self, ids: &[QueueId], now_ms: u64) -> Vec<Option<WaitingInfo>> {
        ids.iter()
            .map(|id| {
                let queue = self.queues.get(id).filter(|q| q.is_waiting())?;
                let position = match queue.filed_wanting {
                    true => self.order.position(&queue.entry(), &self.last_served),
                    false => 1,
                };
                let (reason, runnable) = self.waiting_reason(queue, now_ms);
                Some(WaitingInfo {
                    position: u32::try_from(position).unwrap_or(u32::MAX),
                    reason,
                    runnable,
                })
            })
            .collect()
    }

    #[cfg(test)]
    fn waiting_info(&self, id: &QueueId, now_ms: u64) -> Option<WaitingInfo> {
        self.waiting_infos(std::slice::from_ref(id), now_ms)
            .pop()
            .flatten()
    }

    /// Why `queue` waits, and whether some live worker can run it (it
    /// waits only for a free slot, or a free board).
    fn waiting_reason(&self, queue: &Queue, now_ms: u64) -> (String, bool) {
        let (profile, requires) = (queue.profile.as_ref(), &queue.requires);
        let offering: Vec<&WorkerRecord> = self
            .workers
            .values()
            .filter(|w| w.is_live(now_ms) && w.offers(profile, requires))
            .collect();
        let wanted = describe_needs(profile, requires);
        if offering.is_empty() {
            return (format!("waiting for a worker with {wanted}"), false);
        }
        let (on_boards, on_slots): (Vec<&WorkerRecord>, Vec<&WorkerRecord>) = offering
            .into_iter()
            .partition(|w| runs_on_boards(w, profile));
        if on_slots.iter().any(|w| w.admits(profile, requires)) {
            let reason = format!("waiting for a free slot on a worker with {wanted}");
            return (reason, true);
        }
        let taking: Vec<&WorkerRecord> = on_boards
            .into_iter()
            .filter(|w| profile_ready(w, profile))
            .collect();
        let unreserved = |w: &&WorkerRecord| {
            w.boards_for(requires).any(|b| {
                !self
                    .boards
                    .is_reserved(&(w.id.clone(), b.name.clone()), now_ms)
            })
        };
        if taking.iter().any(unreserved) {
            return (format!("waiting for a free board with {wanted}"), true);
        }
        if !taking.is_empty() {
            let reason =
                format!("waiting: every board with {wanted} is reserved, quarantined or offline");
            return (reason, false);
        }
        let reason =
            format!("waiting: every worker with {wanted} is draining or has it quarantined");
        (reason, false)
    }

    /// Folds one board event of the events stream (reservations, and the
    /// lease events read back).
    pub fn apply_board_event(&mut self, event: &BoardEvent) {
        self.boards.apply(event);
    }

    /// The board events owed at `now_ms`: leases given and ended, and the
    /// reservations that ran out.
    pub fn board_notices(&self, now_ms: u64) -> Vec<BoardNotice> {
        self.boards.notices(now_ms)
    }

    /// `notice` was published: it is not owed any more.
    pub fn board_notice_published(&mut self, notice: &BoardNotice) {
        self.boards.published(notice);
    }
}

/// Whether `worker` takes queues of `profile` (`None`: its default) now,
/// boards aside.
fn profile_ready(worker: &WorkerRecord, profile: Option<&ProfileName>) -> bool {
    profile
        .or(worker.default_profile.as_ref())
        .is_some_and(|p| {
            worker
                .state
                .get(p)
                .is_none_or(|s| s.state == ProfileAdmission::Ready)
        })
}

/// Of the live workers with a free slot that admit `queue`, the one with
/// the most free slots (ties: the first id).
fn pick_worker(
    workers: &BTreeMap<String, WorkerRecord>,
    queue: &Queue,
    free: &BTreeMap<String, u32>,
) -> Option<String> {
    free.iter()
        .filter(|(_, slots)| **slots > 0)
        .filter(|(id, _)| {
            let worker = &workers[*id];
            worker.admits(queue.profile.as_ref(), &queue.requires)
                && !runs_on_boards(worker, queue.profile.as_ref())
        })
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(id, _)| id.clone())
}

/// Whether a queue of `profile` (`None`: the worker's default) runs on
/// one of `worker`'s boards there.
fn runs_on_boards(worker: &WorkerRecord, profile: Option<&ProfileName>) -> bool {
    !worker.board_profiles.is_empty()
        && profile
            .or(worker.default_profile.as_ref())
            .is_some_and(|p| worker.runs_on_boards(p))
}

/// A shard index as events name it.
fn shard_label(shard: usize) -> u8 {
    u8::try_from(shard).unwrap_or(u8::MAX)
}

/// `worker` no longer owes shard `shard` of `id`.
fn unowe(
    assigned: &mut BTreeMap<String, BTreeSet<(QueueId, usize)>>,
    worker: &str,
    id: &QueueId,
    shard: usize,
) {
    if let Some(owed) = assigned.get_mut(worker) {
        owed.remove(&(id.clone(), shard));
        if owed.is_empty() {
            assigned.remove(worker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testarena_events::{GitRef, RepoUrl, Source, TaskId, TaskSpec};

    const NOW: u64 = 1_000_000;

    fn submitted(id: &str, priority: Priority, owner: &str, requires: &[&str]) -> Event {
        Event::new(
            QueueId::parse(id).unwrap(),
            EventBody::Submitted {
                source: Source {
                    repo: RepoUrl::parse("/r").unwrap(),
                    git_ref: GitRef::parse("main").unwrap(),
                },
                profile: None,
                tasks: vec![TaskSpec {
                    id: TaskId::parse("t").unwrap(),
                    scenario: testarena_events::ScenarioPath::parse("t.sh").unwrap(),
                    timeout_s: None,
                    retries: None,
                }],
                requires: requires.iter().map(|l| Label::parse(*l).unwrap()).collect(),
                priority,
                owner: Some(Owner::parse(owner).unwrap()),
                shards: 1,
                claim_order: Vec::new(),
                bisect: None,
                rerun_of: None,
            },
        )
    }

    fn worker(id: &str, slots: u32, labels: &[&str]) -> WorkerRecord {
        WorkerRecord {
            id: id.into(),
            host: "h".into(),
            version: "0".into(),
            profiles: vec![ProfileName::parse("sh").unwrap()],
            default_profile: Some(ProfileName::parse("sh").unwrap()),
            labels: labels.iter().map(|l| Label::parse(*l).unwrap()).collect(),
            slots,
            busy: 0,
            state: Default::default(),
            last_seen_ms: NOW,
            heartbeat_ms: 1000,
            left_ms: None,
            boards: Vec::new(),
            board_profiles: Vec::new(),
        }
    }

    /// Submits, then runs dispatch after dispatch on one slot, feeding each
    /// back as its events; the order queues were dispatched in.
    fn order_on_one_slot(plan: &mut Plan, n: usize) -> Vec<String> {
        let mut seq = 1000;
        let mut order = Vec::new();
        for _ in 0..n {
            let dispatches = plan.plan(NOW);
            assert_eq!(dispatches.len(), 1, "one free slot");
            let d = &dispatches[0];
            order.push(d.queue.to_string());
            seq += 1;
            let dispatched = EventBody::Dispatched {
                worker: d.worker.clone(),
                attempt_base: 0,
                submitted_seq: d.submitted_seq,
                board: None,
            };
            plan.apply_event(seq, &Event::new(d.queue.clone(), dispatched));
            seq += 1;
            let finished = EventBody::Finished {
                status: testarena_events::FinalStatus::Finished,
                attempt: Some(1),
                reason: None,
            };
            plan.apply_event(seq, &Event::new(d.queue.clone(), finished));
        }
        order
    }

    #[test]
    fn a_team_with_one_queue_is_served_within_two_of_a_team_with_two_hundred() {
        let mut plan = Plan::default();
        plan.worker_seen(worker("w", 1, &[]));
        for n in 0..200u64 {
            plan.apply_event(
                n + 1,
                &submitted(&format!("a{n}"), Priority::Normal, "team-a", &[]),
            );
        }
        plan.apply_event(201, &submitted("b0", Priority::Normal, "team-b", &[]));
        let order = order_on_one_slot(&mut plan, 3);
        assert!(order[..2].contains(&"b0".to_owned()), "{order:?}");
    }

    #[test]
    fn high_before_normal_before_low() {
        let mut plan = Plan::default();
        plan.worker_seen(worker("w", 1, &[]));
        plan.apply_event(1, &submitted("low", Priority::Low, "x", &[]));
        plan.apply_event(2, &submitted("normal", Priority::Normal, "x", &[]));
        plan.apply_event(3, &submitted("high", Priority::High, "x", &[]));
        assert_eq!(order_on_one_slot(&mut plan, 3), ["high", "normal", "low"]);
    }

    #[test]
    fn a_queue_goes_only_to_a_worker_with_its_labels_and_waits_with_a_reason() {
        let mut plan = Plan::default();
        plan.worker_seen(worker("plain", 4, &[]));
        plan.apply_event(1, &submitted("q", Priority::Normal, "x", &["board=b"]));
        assert!(plan.plan(NOW).is_empty());
        let id = QueueId::parse("q").unwrap();
        assert_eq!(
            plan.waiting_info(&id, NOW).unwrap(),
            WaitingInfo {
                position: 1,
                reason: "waiting for a worker with a default profile and board=b".into(),
                runnable: false,
            }
        );
        plan.worker_seen(worker("board-b", 1, &["board=b"]));
        let dispatches = plan.plan(NOW);
        assert_eq!(dispatches.len(), 1);
        assert_eq!(dispatches[0].worker, "board-b");
        assert!(plan.waiting_info(&id, NOW).is_none());
        // The next one only waits for board-b's slot: some worker can run it.
        plan.apply_event(2, &submitted("q2", Priority::Normal, "x", &["board=b"]));
        assert!(plan.plan(NOW).is_empty());
        let next = plan
            .waiting_info(&QueueId::parse("q2").unwrap(), NOW)
            .unwrap();
        assert!(next.runnable, "{next:?}");
        assert!(
            next.reason.starts_with("waiting for a free slot"),
            "{next:?}"
        );
    }

    #[test]
    fn a_gone_workers_queue_is_dispatched_again_after_the_attempts_it_made() {
        its_queue_goes_to_w2_when_w1_goes(|plan| plan.worker_left("w1"));
    }

    #[test]
    fn a_worker_that_put_its_tombstone_is_gone_at_once() {
        // The record a cleanly stopped worker leaves, read within its
        // three heartbeats: gone all the same.
        its_queue_goes_to_w2_when_w1_goes(|plan| {
            plan.worker_seen(worker("w1", 1, &[]).leaving(NOW));
        });
    }

    fn its_queue_goes_to_w2_when_w1_goes(leave: impl FnOnce(&mut Plan)) {
        let mut plan = Plan::default();
        plan.worker_seen(worker("w1", 1, &[]));
        plan.apply_event(1, &submitted("q", Priority::Normal, "x", &[]));
        let first = plan.plan(NOW);
        let id = first[0].queue.clone();
        let dispatched = EventBody::Dispatched {
            worker: "w1".into(),
            attempt_base: 0,
            submitted_seq: 1,
            board: None,
        };
        plan.apply_event(2, &Event::new(id.clone(), dispatched));
        let started = EventBody::Started {
            worker: "w1".into(),
            attempt: 1,
        };
        plan.apply_event(3, &Event::new(id.clone(), started));
        plan.worker_seen(worker("w2", 1, &[]));
        assert!(plan.plan(NOW).is_empty(), "w1 is alive and owes it");
        leave(&mut plan);
        let again = plan.plan(NOW);
        assert_eq!(again.len(), 1);
        assert_eq!(
            (
                again[0].worker.as_str(),
                again[0].attempt_base,
                again[0].expected_last_dispatch_seq
            ),
            ("w2", 1, 2)
        );
    }

    #[test]
    fn a_dispatch_read_before_its_workers_record_is_not_given_again() {
        let mut plan = Plan::default();
        plan.apply_event(1, &submitted("q", Priority::Normal, "x", &[]));
        // Another scheduler gave it to w1, whose record this one has not
        // read yet (the registry is another stream).
        let dispatched = EventBody::Dispatched {
            worker: "w1".into(),
            attempt_base: 0,
            submitted_seq: 1,
            board: None,
        };
        plan.apply_event(2, &Event::new(QueueId::parse("q").unwrap(), dispatched));
        assert!(plan.plan(NOW).is_empty(), "no worker known: nothing to do");
        plan.worker_seen(worker("w1", 2, &[]));
        assert!(plan.plan(NOW + 1).is_empty(), "w1 owes it");
        // A worker never heard of is taken as gone only after the grace.
        let mut plan = Plan::default();
        plan.worker_seen(worker("w2", 1, &[]));
        plan.apply_event(1, &submitted("r", Priority::Normal, "x", &[]));
        let dispatched = EventBody::Dispatched {
            worker: "w9".into(),
            attempt_base: 0,
            submitted_seq: 1,
            board: None,
        };
        plan.apply_event(2, &Event::new(QueueId::parse("r").unwrap(), dispatched));
        assert!(plan.plan(NOW).is_empty(), "w9 may just not be read yet");
        assert!(plan.plan(NOW + UNKNOWN_WORKER_GRACE_MS - 1).is_empty());
        let mut w2 = worker("w2", 1, &[]);
        w2.last_seen_ms = NOW + UNKNOWN_WORKER_GRACE_MS;
        plan.worker_seen(w2);
        let again = plan.plan(NOW + UNKNOWN_WORKER_GRACE_MS);
        assert_eq!(again.len(), 1, "w9 never showed up: taken back");
        assert_eq!(again[0].worker, "w2");
    }

    #[test]
    fn a_dispatch_read_back_before_its_undo_stays_dispatched() {
        // The publish timed out but was stored: its event is read back
        // before the dispatcher undoes it. Undone, it would go again.
        let mut plan = Plan::default();
        plan.worker_seen(worker("w1", 2, &[]));
        plan.apply_event(1, &submitted("q", Priority::Normal, "x", &[]));
        let first = plan.plan(NOW);
        let dispatched = EventBody::Dispatched {
            worker: "w1".into(),
            attempt_base: 0,
            submitted_seq: 1,
            board: None,
        };
        plan.apply_event(2, &Event::new(first[0].queue.clone(), dispatched));
        plan.undo(&first[0]);
        assert!(plan.plan(NOW).is_empty(), "w1 holds it");
    }

    #[test]
    fn a_registry_that_went_quiet_for_everyone_takes_no_worker_for_gone() {
        let mut plan = Plan::default();
        plan.worker_seen(worker("w1", 1, &[]));
        plan.worker_seen(worker("w2", 1, &[]));
        plan.apply_event(1, &submitted("q", Priority::Normal, "x", &[]));
        let first = plan.plan(NOW);
        let running_on = first[0].worker.clone();
        let dispatched = EventBody::Dispatched {
            worker: running_on.clone(),
            attempt_base: 0,
            submitted_seq: 1,
            board: None,
        };
        plan.apply_event(2, &Event::new(first[0].queue.clone(), dispatched));
        // No record from anyone for ten heartbeats: the registry is down,
        // not the workers.
        let later = NOW + 10_000;
        assert!(plan.plan(later).is_empty(), "nothing taken back");
        // The registry comes back: the other worker is heard first, a few
        // milliseconds before the first one's own next heartbeat.
        let other = if running_on == "w1" { "w2" } else { "w1" };
        let heard_at = |id: &str, at: u64| {
            let mut record = worker(id, 1, &[]);
            record.last_seen_ms = at;
            record
        };
        plan.worker_seen(heard_at(other, later));
        assert!(plan.plan(later + 5).is_empty(), "its own heartbeat is due");
        // It never comes: gone two heartbeats after the registry came back.
        plan.worker_seen(heard_at(other, later + 1000));
        assert!(plan.plan(later + 1000).is_empty());
        plan.worker_seen(heard_at(other, later + 2001));
        let again = plan.plan(later + 2001);
        assert_eq!(again.len(), 1, "taken back once the registry moved on");
        assert_eq!(again[0].worker, other);
    }

    #[test]
    fn a_full_worker_takes_nothing_more() {
        let mut plan = Plan::default();
        plan.worker_seen(worker("w", 2, &[]));
        for n in 0..5u64 {
            plan.apply_event(
                n + 1,
                &submitted(&format!("q{n}"), Priority::Normal, "x", &[]),
            );
        }
        assert_eq!(plan.plan(NOW).len(), 2);
        assert!(plan.plan(NOW).is_empty());
        assert_eq!(plan.waiting_count(), 3);
    }

    fn sharded(id: &str, tasks: usize, shards: u8) -> Event {
        let mut event = submitted(id, Priority::Normal, "x", &[]);
        if let EventBody::Submitted {
            tasks: specs,
            shards: s,
            ..
        } = &mut event.body
        {
            *specs = (0..tasks)
                .map(|i| TaskSpec::parse(&format!("t{i}"), "t.sh").unwrap())
                .collect();
            *s = shards;
        }
        event
    }

    /// Runs plan rounds, feeding each dispatch back, until none is made.
    fn dispatch_all(plan: &mut Plan, seq: &mut u64) -> Vec<Dispatch> {
        let mut all = Vec::new();
        loop {
            let round = plan.plan(NOW);
            if round.is_empty() {
                return all;
            }
            for d in &round {
                *seq += 1;
                let body = EventBody::Dispatched {
                    worker: d.worker.clone(),
                    attempt_base: d.attempt_base,
                    submitted_seq: d.submitted_seq,
                    board: None,
                };
                plan.apply_event(*seq, &Event::new(d.queue.clone(), body).of_shard(d.shard));
            }
            all.extend(round);
        }
    }

    /// Shard `shard` of queue `q` claims `task`.
    fn claim(plan: &mut Plan, seq: &mut u64, shard: u8, task: &str) {
        *seq += 1;
        let body = EventBody::TaskClaimed {
            task_id: TaskId::parse(task).unwrap(),
            attempt: 1,
        };
        let id = QueueId::parse("q").unwrap();
        plan.apply_event(*seq, &Event::new(id, body).of_shard(Some(shard)));
    }

    #[test]
    fn a_sharded_queue_takes_one_slot_per_shard_one_dispatch_per_round() {
        let fresh = || {
            let mut plan = Plan::default();
            plan.worker_seen(worker("w1", 2, &[]));
            plan.worker_seen(worker("w2", 2, &[]));
            plan.apply_event(1, &sharded("q", 10, 3));
            plan
        };
        assert_eq!(fresh().plan(NOW).len(), 1, "one shard per round");
        let mut plan = fresh();
        let mut seq = 1;
        let all = dispatch_all(&mut plan, &mut seq);
        let shards: Vec<Option<u8>> = all.iter().map(|d| d.shard).collect();
        assert_eq!(shards, [Some(0), Some(1), Some(2)]);
        let expected: Vec<u64> = all.iter().map(|d| d.expected_last_dispatch_seq).collect();
        assert_eq!(expected, [0, 2, 3], "each conditional on the last one");
    }

    #[test]
    fn no_more_shards_than_tasks_and_none_once_every_task_is_claimed() {
        let mut plan = Plan::default();
        plan.worker_seen(worker("w", 8, &[]));
        plan.apply_event(1, &sharded("small", 2, 8));
        let mut seq = 1;
        assert_eq!(dispatch_all(&mut plan, &mut seq).len(), 2);

        let mut plan = Plan::default();
        plan.worker_seen(worker("w", 1, &[]));
        plan.apply_event(1, &sharded("q", 2, 2));
        let mut seq = 1;
        assert_eq!(dispatch_all(&mut plan, &mut seq).len(), 1, "one slot");
        claim(&mut plan, &mut seq, 0, "t0");
        claim(&mut plan, &mut seq, 0, "t1");
        seq += 1;
        let done = EventBody::ShardFinished { attempt: 1 };
        let id = QueueId::parse("q").unwrap();
        plan.apply_event(seq, &Event::new(id, done).of_shard(Some(0)));
        assert!(
            plan.plan(NOW).is_empty(),
            "shard 1 has nothing left to claim"
        );
    }

    #[test]
    fn a_gone_workers_shard_is_given_again_even_with_every_task_claimed() {
        let mut plan = Plan::default();
        plan.worker_seen(worker("w1", 1, &[]));
        plan.worker_seen(worker("w2", 1, &[]));
        plan.apply_event(1, &sharded("q", 2, 2));
        let mut seq = 1;
        let first = dispatch_all(&mut plan, &mut seq);
        assert_eq!(first.len(), 2);
        claim(&mut plan, &mut seq, 0, "t0");
        claim(&mut plan, &mut seq, 1, "t1");
        let gone = first
            .iter()
            .find(|d| d.shard == Some(1))
            .unwrap()
            .worker
            .clone();
        plan.worker_left(&gone);
        plan.worker_seen(worker("w3", 1, &[]));
        let again = plan.plan(NOW);
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!((again[0].shard, again[0].worker.as_str()), (Some(1), "w3"));
    }
}
