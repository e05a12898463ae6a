//! The indexed `Plan` against the plan that sorted every wanting queue at
//! each decision (`reference_plan.rs`): random histories of submits with
//! priorities, owners, profiles, labels and shards, workers coming, going,
//! draining and falling silent, dispatches read back, undone or left
//! pending, claims, cancels and finishes. After every step both give the
//! same decisions, the same waiting count and the same position and reason
//! for every queue.

use std::collections::BTreeMap;

use testarena_events::{
    Event, EventBody, FinalStatus, GitRef, Label, Owner, Priority, ProfileAdmission, ProfileName,
    ProfileState, QueueId, RepoUrl, Source, TaskId, TaskSpec, WorkerRecord,
};

use super::plan::{Dispatch, Plan};
use super::reference_plan::ReferencePlan;

const START_MS: u64 = 1_000_000;

/// xorshift64: a reproducible history per seed, no dependency.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Both plans, fed the same history.
struct Twins {
    indexed: Plan,
    reference: ReferencePlan,
    seq: u64,
    now_ms: u64,
    queues: Vec<(QueueId, usize)>,
    step: usize,
}

impl Twins {
    fn event(&mut self, event: Event) {
        self.seq += 1;
        self.indexed.apply_event(self.seq, &event);
        self.reference.apply_event(self.seq, &event);
    }

    fn worker_seen(&mut self, record: WorkerRecord) {
        self.indexed.worker_seen(record.clone());
        self.reference.worker_seen(record);
    }

    fn plan(&mut self) -> Vec<Dispatch> {
        let indexed = self.indexed.plan(self.now_ms);
        let reference = self.reference.plan(self.now_ms);
        assert_eq!(indexed, reference, "decisions at step {}", self.step);
        indexed
    }

    fn undo(&mut self, dispatch: &Dispatch) {
        self.indexed.undo(dispatch);
        self.reference.undo(dispatch);
    }

    fn check_reads(&self) {
        let ids: Vec<QueueId> = self.queues.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(
            self.indexed.waiting_infos(&ids, self.now_ms),
            self.reference.waiting_infos(&ids, self.now_ms),
            "waiting infos at step {}",
            self.step
        );
        assert_eq!(
            self.indexed.waiting_count(),
            self.reference.waiting_count(),
            "waiting count at step {}",
            self.step
        );
    }
}

const LABELS: [&str; 3] = ["board=a", "board=b", "fixture=x"];
const PROFILES: [&str; 2] = ["sh", "qemu"];

fn labels(random: &mut Random) -> Vec<Label> {
    LABELS
        .iter()
        .filter(|_| random.chance(30))
        .map(|l| Label::parse(*l).unwrap())
        .collect()
}

fn profile(random: &mut Random) -> ProfileName {
    ProfileName::parse(*random.pick(&PROFILES)).unwrap()
}

fn submitted(random: &mut Random) -> (EventBody, usize) {
    let tasks = if random.chance(5) {
        0
    } else {
        1 + random.below(4) as usize
    };
    let body = EventBody::Submitted {
        source: Source {
            repo: RepoUrl::parse("/r").unwrap(),
            git_ref: GitRef::parse("main").unwrap(),
        },
        profile: random.chance(50).then(|| profile(random)),
        tasks: (0..tasks)
            .map(|i| TaskSpec::parse(&format!("t{i}"), "t.sh").unwrap())
            .collect(),
        requires: labels(random),
        priority: *random.pick(&[Priority::High, Priority::Normal, Priority::Low]),
        owner: match random.below(5) {
            0 => None,
            n => Some(Owner::parse(format!("team-{n}")).unwrap()),
        },
        shards: if random.chance(25) {
            1 + random.below(3) as u8
        } else {
            1
        },
        claim_order: Vec::new(),
        bisect: None,
        rerun_of: None,
    };
    (body, tasks)
}

fn worker(random: &mut Random, now_ms: u64) -> WorkerRecord {
    let mut profiles: Vec<ProfileName> = PROFILES
        .iter()
        .filter(|_| random.chance(70))
        .map(|p| ProfileName::parse(*p).unwrap())
        .collect();
    profiles.dedup();
    let mut state = BTreeMap::new();
    if random.chance(20) {
        let admission = *random.pick(&[ProfileAdmission::Draining, ProfileAdmission::Quarantined]);
        let reason = None;
        state.insert(
            profile(random),
            ProfileState {
                state: admission,
                reason,
            },
        );
    }
    let record = WorkerRecord {
        id: format!("w{}", random.below(6)),
        host: "h".into(),
        version: "0".into(),
        default_profile: random.chance(60).then(|| profile(random)),
        profiles,
        labels: labels(random),
        slots: 1 + random.below(3) as u32,
        busy: 0,
        state,
        last_seen_ms: now_ms.saturating_sub(random.below(4000)),
        heartbeat_ms: 1000,
        left_ms: None,
        boards: Vec::new(),
        board_profiles: Vec::new(),
    };
    if random.chance(10) {
        record.leaving(now_ms)
    } else {
        record
    }
}

/// One step of a history: an event, a registry change, time, or a plan.
fn step(twins: &mut Twins, random: &mut Random) {
    let some_queue = |twins: &Twins, random: &mut Random| {
        (!twins.queues.is_empty()).then(|| random.pick(&twins.queues).clone())
    };
    match random.below(14) {
        0..=2 => {
            let id = QueueId::parse(format!("q{}", twins.queues.len())).unwrap();
            let (body, tasks) = submitted(random);
            twins.queues.push((id.clone(), tasks));
            twins.event(Event::new(id, body));
        }
        3 | 4 => {
            let record = worker(random, twins.now_ms);
            twins.worker_seen(record);
        }
        5 => {
            let id = format!("w{}", random.below(6));
            twins.indexed.worker_left(&id);
            twins.reference.worker_left(&id);
        }
        6 => twins.now_ms += random.below(4000),
        7..=9 => plan_and_settle(twins, random),
        _ => {
            if let Some((id, tasks)) = some_queue(twins, random) {
                let body = queue_event(random, tasks);
                let shard = random.chance(50).then(|| random.below(3) as u8);
                twins.event(Event::new(id, body).of_shard(shard));
            }
        }
    }
}

/// A plan; each dispatch then read back (as itself or as another
/// scheduler's), undone, or left pending.
fn plan_and_settle(twins: &mut Twins, random: &mut Random) {
    for dispatch in twins.plan() {
        match random.below(10) {
            0..=5 => {
                let worker = if random.chance(10) {
                    format!("w{}", random.below(8))
                } else {
                    dispatch.worker.clone()
                };
                let body = EventBody::Dispatched {
                    worker,
                    attempt_base: dispatch.attempt_base,
                    submitted_seq: dispatch.submitted_seq,
                    board: None,
                };
                twins.event(Event::new(dispatch.queue.clone(), body).of_shard(dispatch.shard));
            }
            6 | 7 => twins.undo(&dispatch),
            _ => {}
        }
    }
}

/// Something a worker, another scheduler or a user says about a queue.
fn queue_event(random: &mut Random, tasks: usize) -> EventBody {
    let attempt = 1 + random.below(3) as u32;
    match random.below(8) {
        0 => EventBody::Dispatched {
            worker: format!("w{}", random.below(8)),
            attempt_base: 0,
            submitted_seq: 0,
            board: None,
        },
        1 => EventBody::Started {
            worker: "w0".into(),
            attempt,
        },
        2 | 3 => EventBody::TaskClaimed {
            task_id: TaskId::parse(format!("t{}", random.below(tasks.max(1) as u64))).unwrap(),
            attempt,
        },
        4 => EventBody::ShardFinished { attempt },
        5 => EventBody::Finished {
            status: FinalStatus::Finished,
            attempt: Some(attempt),
            reason: None,
        },
        6 => EventBody::CancelRequested { reason: None },
        _ => EventBody::Deleted {},
    }
}

#[test]
fn the_indexed_plan_decides_as_the_sorting_one_did_on_random_histories() {
    for seed in 1..=120u64 {
        let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut twins = Twins {
            indexed: Plan::default(),
            reference: ReferencePlan::default(),
            seq: 0,
            now_ms: START_MS,
            queues: Vec::new(),
            step: 0,
        };
        for n in 0..300 {
            twins.step = n;
            step(&mut twins, &mut random);
            twins.check_reads();
        }
    }
}
