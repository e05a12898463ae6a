//! The boards view (`migrations/0013_boards.sql`): each board's lease,
//! reservation and admission after its last event (`boards`), every event
//! as a change with who and when (`board_changes`), and the queues it ran
//! (`board_runs`). `fold` and `change_of` are pure; `save` loads the
//! boards a batch names, folds its events in stream order and writes the
//! rows in the caller's transaction. Rows are keyed by stream sequence and
//! a board keeps the sequence it last folded, so a batch applied twice
//! changes nothing.

use std::collections::BTreeMap;

use sqlx::Row;
use testarena_events::{BoardChange, BoardEvent, BoardEventBody};

/// A board's row in `boards`: its state after the events folded so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BoardRow {
    pub queue: Option<String>,
    pub shard: Option<u8>,
    pub reserved_by: Option<String>,
    pub reserved_until: Option<String>,
    pub until_ms: Option<u64>,
    pub reservation_reason: Option<String>,
    /// `ready`, `quarantined` or `offline`, as the board events said last.
    pub admission: &'static str,
    pub reason: Option<String>,
    /// The stream sequence of the last event folded.
    pub seq: u64,
}

impl BoardRow {
    /// A board no event named yet: free and ready.
    fn new() -> Self {
        Self {
            queue: None,
            shard: None,
            reserved_by: None,
            reserved_until: None,
            until_ms: None,
            reservation_reason: None,
            admission: "ready",
            reason: None,
            seq: 0,
        }
    }
}

/// Pure: the board after `event` (at stream sequence `seq`). An event at
/// or before the board's last one changes nothing (a replay).
pub(crate) fn fold(mut row: BoardRow, seq: u64, event: &BoardEvent) -> BoardRow {
    if seq <= row.seq {
        return row;
    }
    row.seq = seq;
    match &event.body {
        BoardEventBody::Leased { queue, shard } => {
            row.queue = Some(queue.to_string());
            row.shard = *shard;
        }
        BoardEventBody::Released { queue: Some(queue) } => {
            // A late release of an older lease leaves the newer one.
            if row.queue.as_deref() == Some(queue.as_str()) {
                row.queue = None;
                row.shard = None;
            }
        }
        BoardEventBody::Released { queue: None } => end_reservation(&mut row),
        // A renewed reservation outlives the old one's expiry.
        BoardEventBody::Expired { until_ms } if row.until_ms == Some(*until_ms) => {
            end_reservation(&mut row)
        }
        BoardEventBody::Expired { .. } => {}
        BoardEventBody::Reserved {
            until,
            until_ms,
            reason,
        } => {
            row.reserved_by = Some(event.by.clone());
            row.reserved_until = Some(until.clone());
            row.until_ms = Some(*until_ms);
            row.reservation_reason = Some(reason.clone());
        }
        BoardEventBody::Power { .. } => {}
        BoardEventBody::Quarantined { reason } => {
            row.admission = "quarantined";
            row.reason = Some(reason.clone());
        }
        BoardEventBody::Offline { reason } => {
            row.admission = "offline";
            row.reason = Some(reason.clone());
        }
        BoardEventBody::Readmitted {} => {
            row.admission = "ready";
            row.reason = None;
        }
    }
    row
}

fn end_reservation(row: &mut BoardRow) {
    row.reserved_by = None;
    row.reserved_until = None;
    row.until_ms = None;
    row.reservation_reason = None;
}

/// Pure: the history line an event adds.
pub(crate) fn change_of(event: &BoardEvent) -> BoardChange {
    let (queue, detail) = match &event.body {
        BoardEventBody::Leased { queue, shard } => {
            (Some(queue.to_string()), shard.map(|s| format!("shard {s}")))
        }
        BoardEventBody::Released { queue: Some(queue) } => (Some(queue.to_string()), None),
        BoardEventBody::Released { queue: None } => {
            (None, Some("reservation released by its holder".to_owned()))
        }
        BoardEventBody::Reserved { until, reason, .. } => {
            (None, Some(format!("until {until}: {reason}")))
        }
        BoardEventBody::Expired { .. } => (None, Some("reservation ran out".to_owned())),
        BoardEventBody::Power {
            action,
            ok,
            message,
        } => (None, Some(power_detail(action.as_str(), *ok, message))),
        BoardEventBody::Quarantined { reason } | BoardEventBody::Offline { reason } => {
            (None, Some(reason.clone()))
        }
        BoardEventBody::Readmitted {} => (None, None),
    };
    BoardChange {
        kind: event.body.kind().to_owned(),
        at: event.at.clone(),
        by: event.by.clone(),
        queue,
        detail,
    }
}

fn power_detail(action: &str, ok: bool, message: &str) -> String {
    let outcome = if ok { "done" } else { "failed" };
    if message.is_empty() {
        format!("{action}: {outcome}")
    } else {
        format!("{action}: {outcome}: {message}")
    }
}

type BoardKey = (String, String);

/// Folds a batch's board events (stream order, with their sequences) into
/// the boards they name and writes the three tables.
pub(crate) async fn save(
    tx: &mut sqlx::SqliteConnection,
    events: &[(u64, BoardEvent)],
) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut boards: BTreeMap<BoardKey, BoardRow> = BTreeMap::new();
    for (seq, event) in events {
        let key = (event.worker.clone(), event.board.to_string());
        let row = match boards.remove(&key) {
            Some(row) => row,
            None => load(tx, &key).await?,
        };
        boards.insert(key, fold(row, *seq, event));
        save_change(tx, *seq, event).await?;
        save_run(tx, *seq, event).await?;
    }
    for (key, row) in &boards {
        save_board(tx, key, row).await?;
    }
    Ok(())
}

async fn load(tx: &mut sqlx::SqliteConnection, key: &BoardKey) -> anyhow::Result<BoardRow> {
    let row = sqlx::query(
        "SELECT queue, shard, reserved_by, reserved_until, until_ms, reservation_reason,
                admission, reason, seq
           FROM boards WHERE worker = ? AND board = ?",
    )
    .bind(&key.0)
    .bind(&key.1)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(BoardRow::new());
    };
    let admission = match row.get::<&str, _>(6) {
        "quarantined" => "quarantined",
        "offline" => "offline",
        _ => "ready",
    };
    Ok(BoardRow {
        queue: row.get(0),
        shard: row.get::<Option<i64>, _>(1).map(|s| s as u8),
        reserved_by: row.get(2),
        reserved_until: row.get(3),
        until_ms: row.get::<Option<i64>, _>(4).map(|ms| ms as u64),
        reservation_reason: row.get(5),
        admission,
        reason: row.get(7),
        seq: row.get::<i64, _>(8) as u64,
    })
}

async fn save_board(
    tx: &mut sqlx::SqliteConnection,
    key: &BoardKey,
    row: &BoardRow,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT OR REPLACE INTO boards
            (worker, board, queue, shard, reserved_by, reserved_until, until_ms,
             reservation_reason, admission, reason, seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.0)
    .bind(&key.1)
    .bind(&row.queue)
    .bind(row.shard.map(i64::from))
    .bind(&row.reserved_by)
    .bind(&row.reserved_until)
    .bind(row.until_ms.map(|ms| ms as i64))
    .bind(&row.reservation_reason)
    .bind(row.admission)
    .bind(&row.reason)
    .bind(row.seq as i64)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn save_change(
    tx: &mut sqlx::SqliteConnection,
    seq: u64,
    event: &BoardEvent,
) -> anyhow::Result<()> {
    let change = change_of(event);
    sqlx::query(
        "INSERT OR REPLACE INTO board_changes
            (seq, worker, board, kind, at, by_whom, queue, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq as i64)
    .bind(&event.worker)
    .bind(event.board.as_str())
    .bind(&change.kind)
    .bind(&change.at)
    .bind(&change.by)
    .bind(&change.queue)
    .bind(&change.detail)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A lease opens a run; the release naming its queue closes the newest
/// open one of that queue on that board.
async fn save_run(
    tx: &mut sqlx::SqliteConnection,
    seq: u64,
    event: &BoardEvent,
) -> anyhow::Result<()> {
    match &event.body {
        BoardEventBody::Leased { queue, .. } => {
            sqlx::query(
                "INSERT OR IGNORE INTO board_runs (seq, worker, board, queue, leased)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(seq as i64)
            .bind(&event.worker)
            .bind(event.board.as_str())
            .bind(queue.as_str())
            .bind(&event.at)
            .execute(&mut *tx)
            .await?;
        }
        BoardEventBody::Released { queue: Some(queue) } => {
            sqlx::query(
                "UPDATE board_runs SET released = ?
                  WHERE seq = (SELECT max(seq) FROM board_runs
                                WHERE worker = ? AND board = ? AND queue = ?
                                  AND released IS NULL AND seq < ?)",
            )
            .bind(&event.at)
            .bind(&event.worker)
            .bind(event.board.as_str())
            .bind(queue.as_str())
            .bind(seq as i64)
            .execute(&mut *tx)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use testarena_events::{BoardName, PowerAction, QueueId};

    fn event(by: &str, body: BoardEventBody) -> BoardEvent {
        BoardEvent::new("w1", BoardName::parse("b1").unwrap(), by, body)
    }

    fn queue(id: &str) -> QueueId {
        QueueId::parse(id).unwrap()
    }

    #[test]
    fn a_lease_and_its_release_set_and_clear_the_queue_but_an_older_release_does_not() {
        let leased = BoardEventBody::Leased {
            queue: queue("q2"),
            shard: Some(1),
        };
        let row = fold(BoardRow::new(), 1, &event("scheduler", leased));
        assert_eq!((row.queue.as_deref(), row.shard), (Some("q2"), Some(1)));
        let old = BoardEventBody::Released {
            queue: Some(queue("q1")),
        };
        let row = fold(row, 2, &event("scheduler", old));
        assert_eq!(row.queue.as_deref(), Some("q2"));
        let done = BoardEventBody::Released {
            queue: Some(queue("q2")),
        };
        let row = fold(row, 3, &event("scheduler", done));
        assert_eq!((row.queue, row.shard), (None, None));
    }

    #[test]
    fn a_reservation_names_its_holder_until_released_or_expired() {
        let reserved = BoardEventBody::Reserved {
            until: "2026-12-07T16:00:00Z".into(),
            until_ms: 1_796_659_200_000,
            reason: "UART".into(),
        };
        let row = fold(BoardRow::new(), 1, &event("ada", reserved.clone()));
        assert_eq!(row.reserved_by.as_deref(), Some("ada"));
        assert_eq!(row.until_ms, Some(1_796_659_200_000));
        assert_eq!(row.reservation_reason.as_deref(), Some("UART"));
        let released = fold(
            row.clone(),
            2,
            &event("ada", BoardEventBody::Released { queue: None }),
        );
        assert_eq!(released.reserved_by, None);
        assert_eq!(released.reserved_until, None);
        let old_expiry = BoardEventBody::Expired {
            until_ms: 1_796_659_100_000,
        };
        let renewed = fold(row.clone(), 2, &event("scheduler", old_expiry));
        assert_eq!(
            renewed,
            BoardRow {
                seq: 2,
                ..row.clone()
            },
            "a renewed reservation stays"
        );
        let expiry = BoardEventBody::Expired {
            until_ms: 1_796_659_200_000,
        };
        let expired = fold(row, 2, &event("scheduler", expiry));
        assert_eq!((expired.reserved_by, expired.until_ms), (None, None));
    }

    #[test]
    fn admission_follows_quarantine_offline_and_readmit_and_a_replay_changes_nothing() {
        let q = BoardEventBody::Quarantined {
            reason: "3 boots failed".into(),
        };
        let row = fold(BoardRow::new(), 5, &event("w1", q));
        assert_eq!(row.admission, "quarantined");
        let replayed = fold(row.clone(), 5, &event("w1", BoardEventBody::Readmitted {}));
        assert_eq!(replayed, row, "an event at or before seq is a replay");
        let row = fold(row, 6, &event("w1", BoardEventBody::Readmitted {}));
        assert_eq!((row.admission, row.reason.as_deref()), ("ready", None));
        let off = BoardEventBody::Offline {
            reason: "no /dev/ttyACM0".into(),
        };
        let row = fold(row, 7, &event("w1", off));
        assert_eq!(row.admission, "offline");
    }

    #[test]
    fn changes_say_what_who_and_the_queue_or_detail() {
        let power = BoardEventBody::Power {
            action: PowerAction::Cycle,
            ok: false,
            message: "relay timeout".into(),
        };
        let change = change_of(&event("ada", power));
        assert_eq!((change.kind.as_str(), change.by.as_str()), ("power", "ada"));
        assert_eq!(
            change.detail.as_deref(),
            Some("cycle: failed: relay timeout")
        );
        let leased = change_of(&event(
            "scheduler",
            BoardEventBody::Leased {
                queue: queue("q1"),
                shard: None,
            },
        ));
        assert_eq!((leased.queue.as_deref(), leased.detail), (Some("q1"), None));
        let early = change_of(&event("ada", BoardEventBody::Released { queue: None }));
        assert_eq!(early.queue, None);
        assert!(early.detail.unwrap().contains("holder"));
    }
}
