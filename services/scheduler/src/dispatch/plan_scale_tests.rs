//! A micro-check of the plan's cost at 1,000, 10,000 and 100,000 waiting
//! queues: per submit, per decision (a slot freed, the next queue chosen,
//! its dispatch read back), per idle heartbeat and per waiting answer of
//! 50 queues, beside the plan that sorted everything (`reference_plan.rs`).
//! Ignored (it times, it asserts nothing about speed); run with
//! `cargo test -p testarena-scheduler --lib plan_scale -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use testarena_events::{
    Event, EventBody, FinalStatus, GitRef, Label, Owner, Priority, ProfileName, QueueId, RepoUrl,
    Source, TaskSpec, WorkerRecord,
};

use super::plan::{Dispatch, Plan};
use super::reference_plan::ReferencePlan;

/// The indexed plan and the one that sorted everything, timed alike.
trait Timed: Default {
    fn event(&mut self, seq: u64, event: &Event);
    fn seen(&mut self, record: WorkerRecord);
    fn decide(&mut self, now_ms: u64) -> Vec<Dispatch>;
    /// A waiting answer, as `waiting_answer.rs` makes one: the infos of
    /// `ids` and the count; how many infos.
    fn answer(&self, ids: &[QueueId], now_ms: u64) -> usize;
}

macro_rules! timed {
    ($plan:ty) => {
        impl Timed for $plan {
            fn event(&mut self, seq: u64, event: &Event) {
                self.apply_event(seq, event)
            }
            fn seen(&mut self, record: WorkerRecord) {
                self.worker_seen(record)
            }
            fn decide(&mut self, now_ms: u64) -> Vec<Dispatch> {
                self.plan(now_ms)
            }
            fn answer(&self, ids: &[QueueId], now_ms: u64) -> usize {
                std::hint::black_box(self.waiting_count());
                self.waiting_infos(ids, now_ms).len()
            }
        }
    };
}
timed!(Plan);
timed!(ReferencePlan);

const NOW: u64 = 1_000_000;

fn submitted(n: usize) -> EventBody {
    // Ten owners, three priorities, and a tenth of the queues for a board
    // no worker has: they wait and must cost nothing to walk past.
    let requires = match n % 10 {
        0 => vec![Label::parse("board=absent").unwrap()],
        _ => Vec::new(),
    };
    EventBody::Submitted {
        source: Source {
            repo: RepoUrl::parse("/r").unwrap(),
            git_ref: GitRef::parse("main").unwrap(),
        },
        profile: None,
        tasks: vec![TaskSpec::parse("t", "t.sh").unwrap()],
        requires,
        priority: [Priority::High, Priority::Normal, Priority::Low][n % 3],
        owner: Some(Owner::parse(format!("team-{}", n % 7)).unwrap()),
        shards: 1,
        claim_order: Vec::new(),
        bisect: None,
        rerun_of: None,
    }
}

fn worker(id: usize) -> WorkerRecord {
    WorkerRecord {
        id: format!("w{id}"),
        host: "h".into(),
        version: "0".into(),
        profiles: vec![ProfileName::parse("sh").unwrap()],
        default_profile: Some(ProfileName::parse("sh").unwrap()),
        labels: Vec::new(),
        slots: 1,
        busy: 0,
        state: Default::default(),
        last_seen_ms: NOW,
        heartbeat_ms: 1000,
        left_ms: None,
        boards: Vec::new(),
        board_profiles: Vec::new(),
    }
}

fn per_op(start: Instant, ops: usize) -> Duration {
    start.elapsed() / u32::try_from(ops).unwrap_or(u32::MAX)
}

/// Submits `waiting` queues with 50 busy one-slot workers, then times the
/// operations; returns (submit, decision, heartbeat, answer) per op.
fn costs<P: Timed>(waiting: usize) -> [Duration; 4] {
    let mut plan = P::default();
    for w in 0..50 {
        plan.seen(worker(w));
    }
    let mut seq = 0u64;
    let start = Instant::now();
    for n in 0..waiting {
        seq += 1;
        let id = QueueId::parse(format!("q{n}")).unwrap();
        plan.event(seq, &Event::new(id, submitted(n)));
    }
    let submit = per_op(start, waiting);
    let mut running = Vec::new();
    for d in plan.decide(NOW) {
        seq += 1;
        let body = EventBody::Dispatched {
            worker: d.worker.clone(),
            attempt_base: 0,
            submitted_seq: d.submitted_seq,
            board: None,
        };
        plan.event(seq, &Event::new(d.queue.clone(), body));
        running.push(d.queue);
    }
    let decisions = 200;
    let start = Instant::now();
    for _ in 0..decisions {
        let done = running.remove(0);
        seq += 1;
        let finished = EventBody::Finished {
            status: FinalStatus::Finished,
            attempt: Some(1),
            reason: None,
        };
        plan.event(seq, &Event::new(done, finished));
        let next = plan.decide(NOW);
        assert_eq!(next.len(), 1, "one slot freed, one queue given");
        seq += 1;
        let body = EventBody::Dispatched {
            worker: next[0].worker.clone(),
            attempt_base: 0,
            submitted_seq: next[0].submitted_seq,
            board: None,
        };
        plan.event(seq, &Event::new(next[0].queue.clone(), body));
        running.push(next[0].queue.clone());
    }
    let decision = per_op(start, decisions);
    let start = Instant::now();
    for n in 0..decisions {
        plan.seen(worker(n % 50));
        assert!(plan.decide(NOW).is_empty());
    }
    let heartbeat = per_op(start, decisions);
    let asked: Vec<QueueId> = (waiting - 50..waiting)
        .map(|n| QueueId::parse(format!("q{n}")).unwrap())
        .collect();
    let start = Instant::now();
    for _ in 0..20 {
        assert_eq!(plan.answer(&asked, NOW), 50);
    }
    [submit, decision, heartbeat, per_op(start, 20)]
}

#[test]
#[ignore = "a timing to read, not a check"]
fn plan_scale_per_operation_costs_stay_flat_from_1k_to_100k_waiting() {
    println!("plan       waiting  submit  decision  heartbeat  answer(50)");
    for waiting in [1_000, 10_000, 100_000] {
        let mut rows = vec![("indexed", costs::<Plan>(waiting))];
        // At 100,000 the reference takes minutes (seconds per decision).
        if waiting <= 10_000 {
            rows.push(("reference", costs::<ReferencePlan>(waiting)));
        }
        for (name, [submit, decision, heartbeat, answer]) in rows {
            println!(
                "{name:<9}  {waiting:>7}  {submit:>6.1?}  {decision:>8.1?}  {heartbeat:>9.1?}  {answer:>10.1?}"
            );
        }
    }
}
