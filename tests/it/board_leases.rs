//! The scheduler's board leases on a real nats-server and real services: a
//! worker record with one board, put in the registry as a worker would
//! (no worker runs: the test says `finished` for it), queues of its board
//! profile, a reservation, and the board events the scheduler publishes.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use futures_util::StreamExt;
use serde_json::{json, Value};
use testarena_events::{
    now_millis, ArenaNames, BoardEvent, BoardEventBody, BoardName, Event, EventBody, EventLog,
    FinalStatus, QueueId,
};

use crate::stack::{queue, GitRepo, StackOptions, TestStack};

/// The fake worker's registry record: profile `fw` runs on its one board
/// `b1` (labels `board=nucleo`), heartbeat long enough to stay alive.
fn board_worker() -> Value {
    json!({
        "id": "bw",
        "host": "h",
        "version": "0",
        "profiles": ["fw"],
        "default_profile": "fw",
        "labels": [],
        "slots": 1,
        "busy": 0,
        "state": {},
        "last_seen_ms": now_millis(),
        "heartbeat_ms": 60_000,
        "boards": [{"name": "b1", "labels": ["board=nucleo"]}],
        "board_profiles": ["fw"],
    })
}

/// The dispatched and board events, as the test reads them.
struct Seen {
    messages: pull::Ordered,
    names: ArenaNames,
}

#[derive(Debug)]
enum Heard {
    Dispatched {
        queue: String,
        board: Option<String>,
    },
    Board(BoardEvent),
}

impl Seen {
    async fn next(&mut self, within: Duration) -> Option<Heard> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let message = tokio::time::timeout(left, self.messages.next())
                .await
                .ok()??
                .ok()?;
            if self.names.is_board_event_subject(&message.subject) {
                return Some(Heard::Board(BoardEvent::from_json(&message.payload).ok()?));
            }
            let event = Event::from_json(&message.payload).ok()?;
            if let EventBody::Dispatched { board, .. } = event.body {
                let board = board.map(|b| b.to_string());
                let queue = event.queue_id.to_string();
                return Some(Heard::Dispatched { queue, board });
            }
        }
    }

    /// The next dispatch, past any board event.
    async fn dispatch(&mut self, within: Duration) -> Option<(String, Option<String>)> {
        while let Some(heard) = self.next(within).await {
            if let Heard::Dispatched { queue, board } = heard {
                return Some((queue, board));
            }
        }
        None
    }

    /// The next board event of kind `kind`, past anything else.
    async fn board(&mut self, kind: &str, within: Duration) -> Option<BoardEvent> {
        while let Some(heard) = self.next(within).await {
            match heard {
                Heard::Board(event) if event.body.kind() == kind => return Some(event),
                Heard::Dispatched { queue, .. } if kind != "dispatched" => {
                    panic!("{queue} dispatched while waiting for {kind}")
                }
                _ => {}
            }
        }
        None
    }
}

async fn finish(log: &EventLog, id: &str) {
    let body = EventBody::Finished {
        status: FinalStatus::Finished,
        attempt: Some(1),
        reason: None,
    };
    let event = Event::new(QueueId::parse(id).unwrap(), body);
    log.publish(&event).await.expect("finished stored");
}

#[tokio::test]
async fn one_board_takes_one_queue_at_a_time_and_a_reservation_holds_it_until_it_expires() {
    let stack = TestStack::start_with(StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    let client = stack.nats_client().await;
    let js = jetstream::new(client.clone());
    let names = ArenaNames::new("arena");
    let log = EventLog::new(client, js.clone(), names.clone());
    let fleet = js.get_key_value(names.fleet_bucket()).await.unwrap();
    fleet
        .put("bw", board_worker().to_string().into())
        .await
        .unwrap();
    let stream = js.get_stream(&names.events_stream).await.unwrap();
    let messages = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            filter_subjects: vec![
                format!("{}.*", names.kind_filter("dispatched")),
                names.all_board_events_filter(),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .messages()
        .await
        .unwrap();
    let mut seen = Seen { messages, names };
    let repo = GitRepo::new(&[("t.sh", "true\n")]);
    let submit = |id: &str| {
        let mut body = queue(id, &repo.url(), &[("t", "t.sh")]);
        body["requires"] = json!(["board=nucleo"]);
        body
    };
    for id in ["q1", "q2"] {
        let (status, body) = stack.submit(&submit(id)).await;
        assert!(status == 201 || status == 202, "{status} {body}");
    }
    let short = Duration::from_secs(2);
    let long = Duration::from_secs(20);

    // One board: q1 gets it, with its lease announced; q2 waits.
    let first = seen.dispatch(long).await.expect("a dispatch");
    assert_eq!(first, ("q1".into(), Some("b1".into())));
    let leased = seen.board("leased", long).await.expect("leased");
    assert_eq!(
        (leased.by.as_str(), leased.worker.as_str()),
        ("scheduler", "bw")
    );
    assert!(seen.dispatch(short).await.is_none(), "q2 waits for b1");
    let view = stack
        .wait_for("q2", long, |v| v["waiting_reason"].is_string())
        .await;
    let reason = view["waiting_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("waiting for a free board"), "{view}");

    // q1 ends: its lease is released, q2 gets the board.
    finish(&log, "q1").await;
    let mut rest = Vec::new();
    while rest.len() < 2 {
        rest.push(seen.next(long).await.expect("release and dispatch"));
    }
    let kinds: Vec<String> = rest
        .iter()
        .map(|h| match h {
            Heard::Dispatched { queue, board } => format!("{queue} on {board:?}"),
            Heard::Board(e) => e.body.kind().to_owned(),
        })
        .collect();
    assert!(
        kinds.contains(&"q2 on Some(\"b1\")".to_owned()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"released".to_owned()), "{kinds:?}");
    let _ = seen.board("leased", long).await.expect("q2's lease");

    // A reservation while q2 runs: q2 keeps the board; q3 waits for the
    // reservation to run out, which the scheduler says (`expired`).
    let until_ms = now_millis() + 6_000;
    let reserve = BoardEvent::new(
        "bw",
        BoardName::parse("b1").unwrap(),
        "ada",
        BoardEventBody::Reserved {
            until: "soon".into(),
            until_ms,
            reason: "debugging".into(),
        },
    );
    log.publish_board_event(&reserve, None).await.unwrap();
    let _ = seen.board("reserved", long).await.expect("reserved read");
    finish(&log, "q2").await;
    let (status, body) = stack.submit(&submit("q3")).await;
    assert!(status == 201 || status == 202, "{status} {body}");
    let _ = seen.board("released", long).await.expect("q2's release");
    // At `until_ms` the board is free: q3's dispatch and the `expired`
    // come from the same decision, in either order.
    let (mut expired, mut third) = (None, None);
    while expired.is_none() || third.is_none() {
        match seen.next(long).await.expect("expired and q3's dispatch") {
            Heard::Dispatched { queue, board } => {
                assert!(
                    now_millis() >= until_ms,
                    "{queue} dispatched while reserved"
                );
                third = Some((queue, board));
            }
            Heard::Board(e) if e.body.kind() == "expired" => expired = Some(e),
            Heard::Board(_) => {}
        }
    }
    assert_eq!(expired.unwrap().by, "scheduler");
    assert_eq!(third.unwrap(), ("q3".into(), Some("b1".into())));
}
