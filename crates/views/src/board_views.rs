//! The reads behind `GET /api/boards` and a board's history: each board's
//! lease, reservation and admission as its events left them (`boards`),
//! and its runs and changes, newest first and bounded. The registry, not
//! these tables, says which boards exist.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use testarena_events::{BoardChange, BoardRun};

use crate::{Views, ViewsError};

/// A board's row of the boards view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBoard {
    pub worker: String,
    pub board: String,
    /// The queue leased to it now.
    pub queue: Option<String>,
    pub reserved_by: Option<String>,
    /// RFC 3339, UTC.
    pub reserved_until: Option<String>,
    /// `reserved_until` in ms since the epoch.
    pub until_ms: Option<u64>,
    pub reservation_reason: Option<String>,
    /// `ready`, `quarantined` or `offline`, as the board's events said last.
    pub admission: String,
    pub reason: Option<String>,
}

/// A read of `boards` with its `tail` (sqlx takes only static SQL).
macro_rules! select_boards {
    ($tail:literal) => {
        concat!(
            "SELECT worker, board, queue, reserved_by, reserved_until, until_ms,
                    reservation_reason, admission, reason FROM boards ",
            $tail
        )
    };
}

fn stored_board(row: &SqliteRow) -> StoredBoard {
    StoredBoard {
        worker: row.get(0),
        board: row.get(1),
        queue: row.get(2),
        reserved_by: row.get(3),
        reserved_until: row.get(4),
        until_ms: row.get::<Option<i64>, _>(5).map(|ms| ms as u64),
        reservation_reason: row.get(6),
        admission: row.get(7),
        reason: row.get(8),
    }
}

impl Views {
    /// Every board any event named, by worker and name.
    pub async fn boards(&self) -> Result<Vec<StoredBoard>, ViewsError> {
        let rows = sqlx::query(select_boards!("ORDER BY worker, board"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(stored_board).collect())
    }

    /// One board's row; `None` when no event named it yet.
    pub async fn board(
        &self,
        worker: &str,
        board: &str,
    ) -> Result<Option<StoredBoard>, ViewsError> {
        let row = sqlx::query(select_boards!("WHERE worker = ? AND board = ?"))
            .bind(worker)
            .bind(board)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(stored_board))
    }

    /// A board's latest `limit` runs and `limit` changes, newest first.
    pub async fn board_history(
        &self,
        worker: &str,
        board: &str,
        limit: u32,
    ) -> Result<(Vec<BoardRun>, Vec<BoardChange>), ViewsError> {
        let runs = sqlx::query(
            "SELECT queue, leased, released FROM board_runs
              WHERE worker = ? AND board = ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(worker)
        .bind(board)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let changes = sqlx::query(
            "SELECT kind, at, by_whom, queue, detail FROM board_changes
              WHERE worker = ? AND board = ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(worker)
        .bind(board)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let runs = runs
            .iter()
            .map(|r| BoardRun {
                queue: r.get(0),
                leased: r.get(1),
                released: r.get(2),
            })
            .collect();
        let changes = changes
            .iter()
            .map(|r| BoardChange {
                kind: r.get(0),
                at: r.get(1),
                by: r.get(2),
                queue: r.get(3),
                detail: r.get(4),
            })
            .collect();
        Ok((runs, changes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn views() -> Views {
        Views::in_memory().await
    }

    #[tokio::test]
    async fn a_boards_history_is_newest_first_bounded_and_its_own() {
        let views = views().await;
        for seq in 1..=5_i64 {
            for board in ["b1", "b2"] {
                sqlx::query(
                    "INSERT INTO board_changes (seq, worker, board, kind, at, by_whom, queue)
                     VALUES (?, 'w1', ?, 'leased', ?, 'scheduler', ?)",
                )
                .bind(seq * 2 + i64::from(board == "b2"))
                .bind(board)
                .bind(format!("t{seq}"))
                .bind(format!("q{seq}"))
                .execute(&views.pool)
                .await
                .unwrap();
                sqlx::query(
                    "INSERT INTO board_runs (seq, worker, board, queue, leased)
                     VALUES (?, 'w1', ?, ?, ?)",
                )
                .bind(seq * 2 + i64::from(board == "b2"))
                .bind(board)
                .bind(format!("q{seq}"))
                .bind(format!("t{seq}"))
                .execute(&views.pool)
                .await
                .unwrap();
            }
        }
        let (runs, changes) = views.board_history("w1", "b1", 3).await.unwrap();
        let queues: Vec<_> = changes.iter().filter_map(|c| c.queue.clone()).collect();
        assert_eq!(queues, ["q5", "q4", "q3"]);
        let runs: Vec<_> = runs.iter().map(|r| r.queue.as_str()).collect();
        assert_eq!(runs, ["q5", "q4", "q3"]);
        assert_eq!(views.board("w1", "b9").await.unwrap(), None);
    }
}
