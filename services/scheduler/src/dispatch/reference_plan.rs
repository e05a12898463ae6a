//! The dispatcher's plan as it was before its order became an index: it
//! sorts every wanting queue again at each decision. Kept, for tests only,
//! as the oracle the indexed `Plan` is held to decision by decision
//! (`plan_equivalence_tests.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::plan::{Dispatch, UNKNOWN_WORKER_GRACE_MS};
use testarena_events::{
    describe_needs, Event, EventBody, Label, Owner, Priority, ProfileName, QueueId, TaskId,
    WaitingInfo, WorkerRecord,
};

/// One queue the dispatcher knows and has not seen finish.
#[derive(Debug, Clone)]
struct Queue {
    submitted_seq: u64,
    profile: Option<ProfileName>,
    requires: Vec<Label>,
    priority: Priority,
    owner: Owner,
    /// One for an unsharded queue; at most one per task.
    shards: Vec<Shard>,
    tasks: usize,
    /// Tasks some shard of a sharded queue claimed.
    claimed: HashSet<TaskId>,
    /// Stream sequence of its last `dispatched` event; 0 when none.
    last_dispatch_seq: u64,
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
    fn submitted(seq: u64, body: &EventBody) -> Option<Self> {
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
            priority: *priority,
            owner: owner.clone().unwrap_or_else(Owner::anonymous),
            shards: vec![Shard::default(); shards],
            tasks: tasks.len(),
            claimed: HashSet::new(),
            last_dispatch_seq: 0,
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
}

/// Where a queue stands in the order: priority, the owner's turn, when
/// the owner was last served, submit order.
type TurnKey = (Priority, u32, u64, u64);

#[derive(Debug, Default)]
pub(super) struct ReferencePlan {
    queues: HashMap<QueueId, Queue>,
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
}

impl ReferencePlan {
    /// Folds one event of the events stream, at stream sequence `seq`.
    pub fn apply_event(&mut self, seq: u64, event: &Event) {
        let id = &event.queue_id;
        if let Some(queue) = Queue::submitted(seq, &event.body) {
            self.queues.entry(id.clone()).or_insert(queue);
            return;
        }
        let Some(queue) = self.queues.get_mut(id) else {
            return;
        };
        let last_shard = queue.shards.len() - 1;
        let event_shard = usize::from(event.shard.unwrap_or(0)).min(last_shard);
        match &event.body {
            EventBody::Dispatched { worker, .. } => {
                let shard = &mut queue.shards[event_shard];
                shard.assigned = Some(worker.clone());
                shard.dispatched = true;
                queue.last_dispatch_seq = seq;
                self.last_served.insert(queue.owner.clone(), seq);
            }
            EventBody::Started { attempt, .. } => {
                let shard = &mut queue.shards[event_shard];
                shard.attempts = shard.attempts.max(*attempt);
            }
            EventBody::TaskClaimed { task_id, .. } => {
                queue.claimed.insert(task_id.clone());
            }
            EventBody::ShardFinished { .. } => {
                let shard = &mut queue.shards[event_shard];
                shard.done = true;
                shard.assigned = None;
            }
            EventBody::Finished { .. } => {
                self.queues.remove(id);
            }
            // A queue no worker ever held is over for the projector at
            // once; one a worker held ends with a worker's `finished`.
            EventBody::CancelRequested { .. } | EventBody::Deleted {} if queue.is_waiting() => {
                self.queues.remove(id);
            }
            _ => {}
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
        self.queues.values().filter(|q| q.is_waiting()).count()
    }

    /// Queues whose worker is gone wait again; then every waiting queue
    /// that a free slot can take is dispatched (and marked so).
    pub fn plan(&mut self, now_ms: u64) -> Vec<Dispatch> {
        self.reclaim_from_gone_workers(now_ms);
        let mut free = self.free_slots(now_ms);
        // Most events change nothing while every slot is taken: no order
        // to compute then.
        if free.values().all(|slots| *slots == 0) {
            return Vec::new();
        }
        let mut dispatches = Vec::new();
        // One shard of a queue per round: each dispatch is conditional on
        // the queue's last one, which the next round has read back.
        for (id, shard) in self.wanting_in_order() {
            let queue = &self.queues[&id];
            let Some(worker) = self.pick_worker(queue, &free) else {
                continue;
            };
            *free.get_mut(&worker).expect("picked from free") -= 1;
            let queue = self.queues.get_mut(&id).expect("listed");
            let sharded = queue.shards.len() > 1;
            let state = &mut queue.shards[shard];
            state.assigned = Some(worker.clone());
            // Until its `dispatched` event says where, "just now".
            self.last_served.insert(queue.owner.clone(), u64::MAX);
            dispatches.push(Dispatch {
                queue: id,
                worker,
                shard: sharded.then(|| u8::try_from(shard).unwrap_or(u8::MAX)),
                attempt_base: state.attempts,
                submitted_seq: queue.submitted_seq,
                expected_last_dispatch_seq: queue.last_dispatch_seq,
                board: None,
            });
        }
        dispatches
    }

    /// A dispatch that could not be published: the queue waits again.
    pub fn undo(&mut self, dispatch: &Dispatch) {
        let Some(queue) = self.queues.get_mut(&dispatch.queue) else {
            return;
        };
        if queue.last_dispatch_seq != dispatch.expected_last_dispatch_seq {
            return;
        }
        let shard = usize::from(dispatch.shard.unwrap_or(0));
        if let Some(shard) = queue.shards.get_mut(shard) {
            if shard.assigned.as_deref() == Some(dispatch.worker.as_str()) {
                shard.assigned = None;
            }
        }
    }

    /// A worker is gone when its record says it stopped beating, when the
    /// record was deleted, or when no record of it came within
    /// [`UNKNOWN_WORKER_GRACE_MS`] of this plan first needing one.
    fn reclaim_from_gone_workers(&mut self, now_ms: u64) {
        let assigned: HashSet<String> = self
            .queues
            .values()
            .flat_map(|q| q.shards.iter().filter_map(|s| s.assigned.clone()))
            .collect();
        self.unknown_since.retain(|w, _| assigned.contains(w));
        let gone: HashSet<String> = assigned
            .into_iter()
            .filter(|w| self.is_gone(w, now_ms))
            .collect();
        for shard in self.queues.values_mut().flat_map(|q| q.shards.iter_mut()) {
            if shard.assigned.as_ref().is_some_and(|w| gone.contains(w)) {
                shard.assigned = None;
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
        let mut free: BTreeMap<String, u32> = self
            .workers
            .values()
            .filter(|w| w.is_live(now_ms))
            .map(|w| (w.id.clone(), w.slots))
            .collect();
        let assigned = self
            .queues
            .values()
            .flat_map(|q| q.shards.iter().filter_map(|s| s.assigned.as_ref()));
        for worker in assigned {
            if let Some(slots) = free.get_mut(worker) {
                *slots = slots.saturating_sub(1);
            }
        }
        free
    }

    fn pick_worker(&self, queue: &Queue, free: &BTreeMap<String, u32>) -> Option<String> {
        free.iter()
            .filter(|(_, slots)| **slots > 0)
            .filter(|(id, _)| self.workers[*id].admits(queue.profile.as_ref(), &queue.requires))
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(id, _)| id.clone())
    }

    /// Queues with a shard wanting a slot, next first, with that shard:
    /// priority, then the owner's turn (its 1st, 2nd, … queue of that
    /// priority), then the owner served longest ago, then submit order. So
    /// owners take turns: one with 200 queues waiting and one with 1
    /// alternate.
    fn wanting_in_order(&self) -> Vec<(QueueId, usize)> {
        let mut wanting: Vec<(&QueueId, &Queue, usize)> = self
            .queues
            .iter()
            .filter_map(|(id, q)| q.next_shard().map(|shard| (id, q, shard)))
            .collect();
        wanting.sort_by_key(|(_, q, _)| (q.priority, q.submitted_seq));
        let mut turns: HashMap<(Priority, &Owner), u32> = HashMap::new();
        let mut keyed: Vec<(TurnKey, (QueueId, usize))> = wanting
            .into_iter()
            .map(|(id, q, shard)| {
                let turn = turns.entry((q.priority, &q.owner)).or_default();
                *turn += 1;
                let served = self.last_served.get(&q.owner).copied().unwrap_or(0);
                (
                    (q.priority, *turn, served, q.submitted_seq),
                    (id.clone(), shard),
                )
            })
            .collect();
        keyed.sort_by_key(|(key, _)| *key);
        keyed.into_iter().map(|(_, wanted)| wanted).collect()
    }

    /// For each of `ids` that waits: its place among the waiting queues
    /// that ask for the same profile and labels, and why it has not
    /// started. The order is computed once for all of them.
    pub fn waiting_infos(&self, ids: &[QueueId], now_ms: u64) -> Vec<Option<WaitingInfo>> {
        let mut order: Option<Vec<(QueueId, usize)>> = None;
        ids.iter()
            .map(|id| {
                let queue = self.queues.get(id).filter(|q| q.is_waiting())?;
                let order = order.get_or_insert_with(|| self.wanting_in_order());
                let same_pool =
                    |q: &Queue| q.profile == queue.profile && q.requires == queue.requires;
                let position = order
                    .iter()
                    .filter(|(other, _)| same_pool(&self.queues[other]))
                    .position(|(other, _)| other == id)
                    .map_or(1, |p| p + 1);
                let (reason, runnable) = self.waiting_reason(queue, now_ms);
                Some(WaitingInfo {
                    position: u32::try_from(position).unwrap_or(u32::MAX),
                    reason,
                    runnable,
                })
            })
            .collect()
    }

    /// Why `queue` waits, and whether some live worker can run it (it
    /// waits only for a free slot).
    fn waiting_reason(&self, queue: &Queue, now_ms: u64) -> (String, bool) {
        let live: Vec<&WorkerRecord> = self
            .workers
            .values()
            .filter(|w| w.is_live(now_ms))
            .collect();
        let wanted = describe_needs(queue.profile.as_ref(), &queue.requires);
        if !live
            .iter()
            .any(|w| w.offers(queue.profile.as_ref(), &queue.requires))
        {
            return (format!("waiting for a worker with {wanted}"), false);
        }
        if !live
            .iter()
            .any(|w| w.admits(queue.profile.as_ref(), &queue.requires))
        {
            let reason =
                format!("waiting: every worker with {wanted} is draining or has it quarantined");
            return (reason, false);
        }
        (
            format!("waiting for a free slot on a worker with {wanted}"),
            true,
        )
    }
}
