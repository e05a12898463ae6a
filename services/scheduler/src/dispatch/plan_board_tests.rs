//! The plan with boards: leases, reservations and their expiry, the board
//! events it owes, and what a waiting board queue's view says. Pure: every
//! event is fed by hand, as the dispatcher would read it back.

use testarena_events::{
    BoardAdmission, BoardEvent, BoardEventBody, BoardName, BoardRecord, Event, EventBody,
    FinalStatus, Label, Owner, Priority, ProfileName, QueueId, RepoUrl, Source, TaskSpec,
    WorkerRecord,
};

use super::board_notice::{BoardNotice, LeaseRef};
use super::plan::{Dispatch, Plan};

const NOW: u64 = 1_000_000;

fn label(l: &str) -> Label {
    Label::parse(l).unwrap()
}

fn board(name: &str, labels: &[&str]) -> BoardRecord {
    BoardRecord {
        name: BoardName::parse(name).unwrap(),
        labels: labels.iter().map(|l| label(l)).collect(),
        admission: BoardAdmission::Ready,
        reason: None,
        health: None,
    }
}

/// A worker whose default profile `fw` runs on its boards, with one slot
/// for its other profile `sh`.
fn worker(id: &str, boards: Vec<BoardRecord>) -> WorkerRecord {
    let fw = ProfileName::parse("fw").unwrap();
    WorkerRecord {
        id: id.into(),
        host: "h".into(),
        version: "0".into(),
        profiles: vec![fw.clone(), ProfileName::parse("sh").unwrap()],
        default_profile: Some(fw.clone()),
        labels: Vec::new(),
        slots: 1,
        busy: 0,
        state: Default::default(),
        last_seen_ms: NOW,
        heartbeat_ms: 1000,
        left_ms: None,
        boards,
        board_profiles: vec![fw],
    }
}

fn nucleo(name: &str) -> BoardRecord {
    board(name, &["board=nucleo"])
}

/// A plan and the stream sequence the next event it reads gets.
struct Arena {
    plan: Plan,
    seq: u64,
}

impl Arena {
    fn with(workers: Vec<WorkerRecord>) -> Self {
        let mut plan = Plan::default();
        for w in workers {
            plan.worker_seen(w);
        }
        Self { plan, seq: 0 }
    }

    fn read(&mut self, event: Event) -> u64 {
        self.seq += 1;
        self.plan.apply_event(self.seq, &event);
        self.seq
    }

    fn read_board(&mut self, worker: &str, board: &str, body: BoardEventBody) {
        self.seq += 1;
        let name = BoardName::parse(board).unwrap();
        let event = BoardEvent::new(worker, name, "ada", body);
        self.plan.apply_board_event(&event);
    }

    /// Submits queue `id` of the default profile requiring `requires`,
    /// with `tasks` tasks in `shards` shards.
    fn submit(&mut self, id: &str, profile: Option<&str>, requires: &[&str], shards: u8) {
        let tasks = (0..shards.max(1))
            .map(|i| TaskSpec::parse(&format!("t{i}"), "t.sh").unwrap())
            .collect();
        self.read(Event::new(
            QueueId::parse(id).unwrap(),
            EventBody::Submitted {
                source: Source {
                    repo: RepoUrl::parse("/r").unwrap(),
                    git_ref: testarena_events::GitRef::parse("main").unwrap(),
                },
                profile: profile.map(|p| ProfileName::parse(p).unwrap()),
                tasks,
                requires: requires.iter().map(|l| label(l)).collect(),
                priority: Priority::Normal,
                owner: Some(Owner::parse("x").unwrap()),
                shards,
                claim_order: Vec::new(),
                bisect: None,
                rerun_of: None,
            },
        ));
    }

    /// One planning round at `now`, each dispatch read back as the
    /// dispatcher publishes it.
    fn round_at(&mut self, now: u64) -> Vec<Dispatch> {
        let round = self.plan.plan(now);
        for d in &round {
            let body = EventBody::Dispatched {
                worker: d.worker.clone(),
                attempt_base: d.attempt_base,
                submitted_seq: d.submitted_seq,
                board: d.board.clone(),
            };
            self.read(Event::new(d.queue.clone(), body).of_shard(d.shard));
        }
        round
    }

    fn round(&mut self) -> Vec<Dispatch> {
        self.round_at(NOW)
    }

    fn finish(&mut self, id: &str) {
        let body = EventBody::Finished {
            status: FinalStatus::Finished,
            attempt: Some(1),
            reason: None,
        };
        self.read(Event::new(QueueId::parse(id).unwrap(), body));
    }

    fn waiting(&self, id: &str, now: u64) -> (String, bool) {
        let info = self.plan.waiting_infos(&[QueueId::parse(id).unwrap()], now);
        let info = info.into_iter().next().flatten().expect("it waits");
        (info.reason, info.runnable)
    }
}

/// (queue, worker, board) of each dispatch.
fn placed(round: &[Dispatch]) -> Vec<(String, String, String)> {
    round
        .iter()
        .map(|d| {
            let board = d.board.as_ref().map_or("-".into(), ToString::to_string);
            (d.queue.to_string(), d.worker.clone(), board)
        })
        .collect()
}

fn one(queue: &str, worker: &str, board: &str) -> Vec<(String, String, String)> {
    vec![(queue.into(), worker.into(), board.into())]
}

#[test]
fn two_queues_one_board_run_one_after_the_other() {
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    arena.submit("q1", None, &["board=nucleo"], 1);
    arena.submit("q2", None, &["board=nucleo"], 1);
    assert_eq!(placed(&arena.round()), one("q1", "w1", "b1"));
    assert!(arena.round().is_empty(), "one queue per board");
    assert_eq!(
        arena.waiting("q2", NOW),
        (
            "waiting for a free board with a default profile and board=nucleo".into(),
            true
        )
    );
    arena.finish("q1");
    assert_eq!(placed(&arena.round()), one("q2", "w1", "b1"));
}

#[test]
fn four_boards_of_two_kinds_on_two_workers_each_queue_on_its_kind() {
    let stm = |n: &str| board(n, &["board=stm"]);
    let esp = |n: &str| board(n, &["board=esp"]);
    let mut arena = Arena::with(vec![
        worker("w1", vec![stm("s1"), esp("e1")]),
        worker("w2", vec![stm("s2"), esp("e2")]),
    ]);
    for (id, kind) in [("a", "stm"), ("b", "esp"), ("c", "stm"), ("d", "esp")] {
        arena.submit(id, None, &[&format!("board={kind}")], 1);
    }
    let mut all = Vec::new();
    loop {
        let round = arena.round();
        if round.is_empty() {
            break;
        }
        all.extend(placed(&round));
    }
    all.sort();
    let expected = [
        ("a", "w1", "s1"),
        ("b", "w1", "e1"),
        ("c", "w2", "s2"),
        ("d", "w2", "e2"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(q, w, b)| ((*q).into(), (*w).into(), (*b).into()))
        .collect();
    assert_eq!(all, expected);
}

#[test]
fn a_quarantined_or_offline_board_is_skipped_while_the_other_of_its_kind_works() {
    for admission in [BoardAdmission::Quarantined, BoardAdmission::Offline] {
        let mut sick = nucleo("b1");
        sick.admission = admission;
        let mut arena = Arena::with(vec![worker("w1", vec![sick, nucleo("b2")])]);
        arena.submit("q1", None, &["board=nucleo"], 1);
        arena.submit("q2", None, &["board=nucleo"], 1);
        assert_eq!(placed(&arena.round()), one("q1", "w1", "b2"));
        assert!(arena.round().is_empty(), "{admission:?} b1 takes nothing");
        let (reason, runnable) = arena.waiting("q2", NOW);
        assert!(reason.starts_with("waiting for a free board"), "{reason}");
        assert!(runnable);
    }
}

#[test]
fn every_board_of_a_kind_out_of_the_pool_says_so_and_is_not_runnable() {
    let mut sick = nucleo("b1");
    sick.admission = BoardAdmission::Quarantined;
    let mut arena = Arena::with(vec![worker("w1", vec![sick, nucleo("b2")])]);
    arena.read_board("w1", "b2", reserved_until(NOW + 60_000));
    arena.submit("q", None, &["board=nucleo"], 1);
    assert!(arena.round().is_empty());
    assert_eq!(
        arena.waiting("q", NOW),
        (
            "waiting: every board with a default profile and board=nucleo is reserved, quarantined or offline".into(),
            false
        )
    );
}

fn reserved_until(until_ms: u64) -> BoardEventBody {
    BoardEventBody::Reserved {
        until: "later".into(),
        until_ms,
        reason: "debugging".into(),
    }
}

#[test]
fn a_reservation_blocks_dispatch_until_it_expires_and_the_plan_owes_the_expiry() {
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    let until = NOW + 60_000;
    arena.read_board("w1", "b1", reserved_until(until));
    arena.submit("q", None, &["board=nucleo"], 1);
    assert!(arena.round().is_empty(), "reserved");
    assert!(arena.plan.board_notices(until - 1).is_empty());
    let mut alive = worker("w1", vec![nucleo("b1")]);
    alive.last_seen_ms = until;
    arena.plan.worker_seen(alive);
    let expired = BoardNotice::Expired {
        worker: "w1".into(),
        board: BoardName::parse("b1").unwrap(),
        until_ms: until,
    };
    assert_eq!(arena.plan.board_notices(until), vec![expired.clone()]);
    assert_eq!(expired.message_id(), format!("board-expired.w1.b1.{until}"));
    arena.plan.board_notice_published(&expired);
    assert!(
        !arena.plan.board_notices(until).contains(&expired),
        "published once"
    );
    // The board is back in the pool at `until`, before the expiry is read.
    assert_eq!(placed(&arena.round_at(until)), one("q", "w1", "b1"));
}

#[test]
fn a_reservation_released_early_frees_the_board_with_no_expiry() {
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    arena.read_board("w1", "b1", reserved_until(NOW + 60_000));
    arena.submit("q", None, &["board=nucleo"], 1);
    assert!(arena.round().is_empty());
    arena.read_board("w1", "b1", BoardEventBody::Released { queue: None });
    assert_eq!(placed(&arena.round()), one("q", "w1", "b1"));
    assert!(arena
        .plan
        .board_notices(NOW + 60_000)
        .iter()
        .all(|n| !matches!(n, BoardNotice::Expired { .. })));
}

#[test]
fn an_expiry_read_after_a_renewal_ends_only_the_old_reservation() {
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    let (first, renewed) = (NOW + 60_000, NOW + 120_000);
    arena.read_board("w1", "b1", reserved_until(first));
    arena.read_board("w1", "b1", reserved_until(renewed));
    let old = BoardEventBody::Expired { until_ms: first };
    arena.read_board("w1", "b1", old);
    arena.submit("q", None, &["board=nucleo"], 1);
    assert!(arena.round().is_empty(), "still reserved until {renewed}");
    let current = BoardEventBody::Expired { until_ms: renewed };
    arena.read_board("w1", "b1", current);
    assert_eq!(placed(&arena.round()), one("q", "w1", "b1"));
}

#[test]
fn a_reserved_boards_running_queue_keeps_it_until_it_finishes() {
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    arena.submit("q1", None, &["board=nucleo"], 1);
    assert_eq!(placed(&arena.round()), one("q1", "w1", "b1"));
    arena.read_board("w1", "b1", reserved_until(NOW + 60_000));
    arena.submit("q2", None, &["board=nucleo"], 1);
    assert!(arena.round().is_empty());
    arena.finish("q1");
    assert!(arena.round().is_empty(), "reserved: q1 finished, q2 waits");
    let (reason, runnable) = arena.waiting("q2", NOW);
    assert!(
        reason.contains("is reserved, quarantined or offline"),
        "{reason}"
    );
    assert!(!runnable);
    // q1 ran to its end: its lease's release is owed.
    let released = arena.plan.board_notices(NOW);
    assert!(
        released
            .iter()
            .any(|n| matches!(n, BoardNotice::Released(l) if l.queue.as_str() == "q1")),
        "{released:?}"
    );
}

#[test]
fn a_killed_workers_lease_is_freed_and_its_queue_goes_again_to_a_board() {
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    arena.submit("q", None, &["board=nucleo"], 1);
    assert_eq!(placed(&arena.round()), one("q", "w1", "b1"));
    let dispatch_seq = arena.seq;
    // w1 is killed (no tombstone); w2 comes up and keeps beating until
    // the registry has clearly moved on without w1.
    let mut later = NOW + 10_000;
    for at in [later, later + 1000, later + 2001] {
        let mut w2 = worker("w2", vec![nucleo("b2")]);
        w2.last_seen_ms = at;
        arena.plan.worker_seen(w2);
        later = at;
    }
    assert_eq!(placed(&arena.round_at(later)), one("q", "w2", "b2"));
    let released = BoardNotice::Released(LeaseRef {
        worker: "w1".into(),
        board: BoardName::parse("b1").unwrap(),
        queue: QueueId::parse("q").unwrap(),
        shard: None,
        dispatch_seq,
    });
    assert!(arena.plan.board_notices(later).contains(&released));
    // w1 comes back: its board is free again (q is on w2's).
    let mut w1 = worker("w1", vec![nucleo("b1")]);
    w1.last_seen_ms = later;
    arena.plan.worker_seen(w1);
    arena.submit("r", None, &["board=nucleo"], 1);
    assert_eq!(placed(&arena.round_at(later)), one("r", "w1", "b1"));
}

#[test]
fn a_sharded_board_queue_takes_one_board_per_shard() {
    let boards = vec![nucleo("b1"), nucleo("b2")];
    let mut arena = Arena::with(vec![worker("w1", boards)]);
    arena.submit("q", None, &["board=nucleo"], 3);
    let first = arena.round();
    let second = arena.round();
    assert!(arena.round().is_empty(), "two boards, two shards");
    let shards: Vec<(Option<u8>, String)> = [first, second]
        .iter()
        .flatten()
        .map(|d| (d.shard, d.board.as_ref().unwrap().to_string()))
        .collect();
    assert_eq!(shards, [(Some(0), "b1".into()), (Some(1), "b2".into())]);
    let id = QueueId::parse("q").unwrap();
    let done = EventBody::ShardFinished { attempt: 1 };
    arena.read(Event::new(id, done).of_shard(Some(1)));
    let third = arena.round();
    assert_eq!(
        (third[0].shard, third[0].board.as_ref().unwrap().as_str()),
        (Some(2), "b2")
    );
}

#[test]
fn board_queues_take_no_slot_and_slot_queues_take_no_board() {
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1"), nucleo("b2")])]);
    arena.submit("f1", None, &[], 1);
    arena.submit("s1", Some("sh"), &[], 1);
    arena.submit("f2", None, &[], 1);
    arena.submit("s2", Some("sh"), &[], 1);
    let mut all = Vec::new();
    loop {
        let round = arena.round();
        if round.is_empty() {
            break;
        }
        all.extend(placed(&round));
    }
    all.sort();
    let expected: Vec<(String, String, String)> =
        [("f1", "w1", "b1"), ("f2", "w1", "b2"), ("s1", "w1", "-")]
            .iter()
            .map(|(q, w, b)| ((*q).into(), (*w).into(), (*b).into()))
            .collect();
    assert_eq!(all, expected, "one slot for sh, a board each for fw");
}

#[test]
fn lease_events_are_owed_until_published_or_read_back() {
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    arena.submit("q", None, &[], 1);
    arena.round();
    let lease = LeaseRef {
        worker: "w1".into(),
        board: BoardName::parse("b1").unwrap(),
        queue: QueueId::parse("q").unwrap(),
        shard: None,
        dispatch_seq: arena.seq,
    };
    assert_eq!(
        arena.plan.board_notices(NOW),
        vec![BoardNotice::Leased(lease.clone())]
    );
    // Another scheduler published it first: read back, not owed.
    let queue = lease.queue.clone();
    arena.read_board(
        "w1",
        "b1",
        BoardEventBody::Leased {
            queue: queue.clone(),
            shard: None,
        },
    );
    assert!(arena.plan.board_notices(NOW).is_empty());
    arena.finish("q");
    let released = BoardNotice::Released(lease);
    assert_eq!(arena.plan.board_notices(NOW), vec![released.clone()]);
    arena.plan.board_notice_published(&released);
    assert!(arena.plan.board_notices(NOW).is_empty());
}

#[test]
fn a_board_dispatch_not_published_gives_the_board_back() {
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    arena.submit("q", None, &[], 1);
    let round = arena.plan.plan(NOW);
    assert_eq!(placed(&round), one("q", "w1", "b1"));
    assert!(arena.plan.plan(NOW).is_empty(), "held until read back");
    arena.plan.undo(&round[0]);
    assert_eq!(placed(&arena.plan.plan(NOW)), one("q", "w1", "b1"));
    assert!(
        arena.plan.board_notices(NOW).is_empty(),
        "nothing owed for a lease never published"
    );
}

#[test]
fn a_release_already_in_the_stream_is_not_owed_again_when_replayed() {
    // Replaying: q was leased on w1's b1, and some scheduler found w1 gone
    // and published the release before this one (which has not reclaimed
    // yet: it decides only once caught up).
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    arena.submit("q", None, &[], 1);
    arena.round();
    let queue = QueueId::parse("q").unwrap();
    let leased = BoardEventBody::Leased {
        queue: queue.clone(),
        shard: None,
    };
    arena.read_board("w1", "b1", leased);
    let released = BoardEventBody::Released { queue: Some(queue) };
    arena.read_board("w1", "b1", released);
    arena.plan.worker_left("w1");
    assert!(arena.round().is_empty(), "no other worker");
    assert!(
        arena.plan.board_notices(NOW).is_empty(),
        "the release is in the stream already"
    );
}

#[test]
fn a_release_read_after_the_queue_is_given_the_board_again_leaves_the_new_lease_owed() {
    // Another scheduler found w1 gone, gave q the same board again (w1 came
    // back), then published the old lease's release: stream order is
    // dispatched (new), released (old).
    let mut arena = Arena::with(vec![worker("w1", vec![nucleo("b1")])]);
    arena.submit("q", None, &[], 1);
    let first = arena.round();
    let again = EventBody::Dispatched {
        worker: "w1".into(),
        attempt_base: 1,
        submitted_seq: first[0].submitted_seq,
        board: Some(BoardName::parse("b1").unwrap()),
    };
    let new_seq = arena.read(Event::new(first[0].queue.clone(), again));
    let queue = QueueId::parse("q").unwrap();
    let released = BoardEventBody::Released {
        queue: Some(queue.clone()),
    };
    arena.read_board("w1", "b1", released);
    arena.finish("q");
    let owed = arena.plan.board_notices(NOW);
    assert!(
        owed.iter()
            .any(|n| matches!(n, BoardNotice::Released(l) if l.dispatch_seq == new_seq)),
        "{owed:?}"
    );
}
