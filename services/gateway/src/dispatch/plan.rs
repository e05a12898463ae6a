//! The dispatcher's decisions, pure: which waiting queue goes to which
//! worker, in what order, and what a waiting queue's view says about it.
//!
//! Order: `high` before `normal` before `low`; within a priority, owners
//! take turns (each owner's oldest waiting queue first, then each one's
//! second, …), ties by submit order. A queue goes to a live worker that
//! admits its profile and has every label it requires, with a free slot
//! (slots minus the queues dispatched to it and not finished); of several,
//! the one with the most free slots.

use std::collections::{BTreeMap, HashMap};

use testarena_events::{
    Event, EventBody, Label, Owner, Priority, ProfileName, QueueId, WorkerRecord,
};

/// One queue the dispatcher knows and has not seen finish.
#[derive(Debug, Clone)]
struct Queue {
    submitted_seq: u64,
    profile: Option<ProfileName>,
    requires: Vec<Label>,
    priority: Priority,
    owner: Owner,
    /// The worker it was last dispatched to, while that worker owes it.
    assigned: Option<String>,
    /// The highest attempt a `started` event said.
    attempts: u32,
    /// Stream sequence of its last `dispatched` event; 0 when none.
    last_dispatch_seq: u64,
}

/// A decision to publish: `queue` to `worker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    pub queue: QueueId,
    pub worker: String,
    pub attempt_base: u32,
    pub submitted_seq: u64,
    /// The publish is conditional on this being the queue's last dispatch.
    pub expected_last_dispatch_seq: u64,
}

/// Where a waiting queue stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingInfo {
    pub position: u32,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Plan {
    queues: HashMap<QueueId, Queue>,
    workers: BTreeMap<String, WorkerRecord>,
    /// Per owner, the stream sequence of its last dispatch: of two owners
    /// whose turn it is, the one served longer ago goes first.
    last_served: HashMap<Owner, u64>,
}

impl Plan {
    /// Folds one event of the events stream, at stream sequence `seq`.
    pub fn apply_event(&mut self, seq: u64, event: &Event) {
        let id = &event.queue_id;
        match &event.body {
            EventBody::Submitted {
                profile,
                requires,
                priority,
                owner,
                ..
            } => {
                self.queues.entry(id.clone()).or_insert_with(|| Queue {
                    submitted_seq: seq,
                    profile: profile.clone(),
                    requires: requires.clone(),
                    priority: *priority,
                    owner: owner.clone().unwrap_or_else(Owner::anonymous),
                    assigned: None,
                    attempts: 0,
                    last_dispatch_seq: 0,
                });
            }
            EventBody::Dispatched { worker, .. } => {
                if let Some(queue) = self.queues.get_mut(id) {
                    queue.assigned = Some(worker.clone());
                    queue.last_dispatch_seq = seq;
                    self.last_served.insert(queue.owner.clone(), seq);
                }
            }
            EventBody::Started { attempt, .. } => {
                if let Some(queue) = self.queues.get_mut(id) {
                    queue.attempts = queue.attempts.max(*attempt);
                }
            }
            EventBody::Finished { .. } => {
                self.queues.remove(id);
            }
            // A waiting queue is over for the projector at once; one a
            // worker holds ends with that worker's `finished`.
            EventBody::CancelRequested { .. } | EventBody::Deleted {}
                if self.queues.get(id).is_some_and(|q| q.assigned.is_none()) =>
            {
                self.queues.remove(id);
            }
            _ => {}
        }
    }

    /// A worker's record was put.
    pub fn worker_seen(&mut self, record: WorkerRecord) {
        self.workers.insert(record.id.clone(), record);
    }

    /// A worker's record was deleted: it stopped.
    pub fn worker_left(&mut self, id: &str) {
        self.workers.remove(id);
    }

    pub fn workers(&self) -> impl Iterator<Item = &WorkerRecord> {
        self.workers.values()
    }

    pub fn waiting_count(&self) -> usize {
        self.queues
            .values()
            .filter(|q| q.assigned.is_none())
            .count()
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
        for id in self.waiting_in_order() {
            let queue = &self.queues[&id];
            let Some(worker) = self.pick_worker(queue, &free) else {
                continue;
            };
            *free.get_mut(&worker).expect("picked from free") -= 1;
            let queue = self.queues.get_mut(&id).expect("listed");
            queue.assigned = Some(worker.clone());
            // Until its `dispatched` event says where, "just now".
            self.last_served.insert(queue.owner.clone(), u64::MAX);
            dispatches.push(Dispatch {
                queue: id,
                worker,
                attempt_base: queue.attempts,
                submitted_seq: queue.submitted_seq,
                expected_last_dispatch_seq: queue.last_dispatch_seq,
            });
        }
        dispatches
    }

    /// A dispatch that could not be published: the queue waits again.
    pub fn undo(&mut self, dispatch: &Dispatch) {
        if let Some(queue) = self.queues.get_mut(&dispatch.queue) {
            if queue.assigned.as_deref() == Some(dispatch.worker.as_str()) {
                queue.assigned = None;
            }
        }
    }

    fn reclaim_from_gone_workers(&mut self, now_ms: u64) {
        let live = |w: &str| self.workers.get(w).is_some_and(|r| r.is_live(now_ms));
        let gone: Vec<QueueId> = self
            .queues
            .iter()
            .filter(|(_, q)| q.assigned.as_deref().is_some_and(|w| !live(w)))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.queues.get_mut(&id).expect("listed").assigned = None;
        }
    }

    fn free_slots(&self, now_ms: u64) -> BTreeMap<String, u32> {
        let mut free: BTreeMap<String, u32> = self
            .workers
            .values()
            .filter(|w| w.is_live(now_ms))
            .map(|w| (w.id.clone(), w.slots))
            .collect();
        for worker in self.queues.values().filter_map(|q| q.assigned.as_ref()) {
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

    /// Waiting queues, next first: priority, then the owner's turn (its
    /// 1st, 2nd, … waiting queue of that priority), then the owner served
    /// longest ago, then submit order. So owners take turns: one with 200
    /// queues waiting and one with 1 alternate.
    fn waiting_in_order(&self) -> Vec<QueueId> {
        let mut waiting: Vec<(&QueueId, &Queue)> = self
            .queues
            .iter()
            .filter(|(_, q)| q.assigned.is_none())
            .collect();
        waiting.sort_by_key(|(_, q)| (q.priority, q.submitted_seq));
        let mut turns: HashMap<(Priority, &Owner), u32> = HashMap::new();
        let mut keyed: Vec<((Priority, u32, u64, u64), QueueId)> = waiting
            .into_iter()
            .map(|(id, q)| {
                let turn = turns.entry((q.priority, &q.owner)).or_default();
                *turn += 1;
                let served = self.last_served.get(&q.owner).copied().unwrap_or(0);
                ((q.priority, *turn, served, q.submitted_seq), id.clone())
            })
            .collect();
        keyed.sort_by_key(|(key, _)| *key);
        keyed.into_iter().map(|(_, id)| id).collect()
    }

    /// For each of `ids` that waits: its place among the waiting queues
    /// that ask for the same profile and labels, and why it has not
    /// started. The order is computed once for all of them.
    pub fn waiting_infos(&self, ids: &[QueueId], now_ms: u64) -> Vec<Option<WaitingInfo>> {
        let mut order: Option<Vec<QueueId>> = None;
        ids.iter()
            .map(|id| {
                let queue = self.queues.get(id).filter(|q| q.assigned.is_none())?;
                let order = order.get_or_insert_with(|| self.waiting_in_order());
                let same_pool =
                    |q: &Queue| q.profile == queue.profile && q.requires == queue.requires;
                let position = order
                    .iter()
                    .filter(|other| same_pool(&self.queues[*other]))
                    .position(|other| other == id)
                    .map_or(1, |p| p + 1);
                Some(WaitingInfo {
                    position: u32::try_from(position).unwrap_or(u32::MAX),
                    reason: self.waiting_reason(queue, now_ms),
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

    fn waiting_reason(&self, queue: &Queue, now_ms: u64) -> String {
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
            return format!("waiting for a worker with {wanted}");
        }
        if !live
            .iter()
            .any(|w| w.admits(queue.profile.as_ref(), &queue.requires))
        {
            return format!(
                "waiting: every worker with {wanted} is draining or has it quarantined"
            );
        }
        format!("waiting for a free slot on a worker with {wanted}")
    }
}

/// "profile qemu-arm and board=x" (or "its default profile").
pub fn describe_needs(profile: Option<&ProfileName>, requires: &[Label]) -> String {
    let mut needs = vec![match profile {
        Some(p) => format!("profile {p}"),
        None => "a default profile".to_owned(),
    }];
    needs.extend(requires.iter().map(ToString::to_string));
    needs.join(" and ")
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
                bisect: None,
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
                reason: "waiting for a worker with a default profile and board=b".into()
            }
        );
        plan.worker_seen(worker("board-b", 1, &["board=b"]));
        let dispatches = plan.plan(NOW);
        assert_eq!(dispatches.len(), 1);
        assert_eq!(dispatches[0].worker, "board-b");
        assert!(plan.waiting_info(&id, NOW).is_none());
    }

    #[test]
    fn a_gone_workers_queue_is_dispatched_again_after_the_attempts_it_made() {
        let mut plan = Plan::default();
        plan.worker_seen(worker("w1", 1, &[]));
        plan.apply_event(1, &submitted("q", Priority::Normal, "x", &[]));
        let first = plan.plan(NOW);
        let id = first[0].queue.clone();
        let dispatched = EventBody::Dispatched {
            worker: "w1".into(),
            attempt_base: 0,
            submitted_seq: 1,
        };
        plan.apply_event(2, &Event::new(id.clone(), dispatched));
        let started = EventBody::Started {
            worker: "w1".into(),
            attempt: 1,
        };
        plan.apply_event(3, &Event::new(id.clone(), started));
        plan.worker_seen(worker("w2", 1, &[]));
        assert!(plan.plan(NOW).is_empty(), "w1 is alive and owes it");
        plan.worker_left("w1");
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
}
