//! The SQLite side of the projector: opening the view database (schema from
//! `migrations/`), and the reads and writes one projected batch needs. All
//! writes happen inside the caller's transaction.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::expected_durations::Key;
use crate::firmware_sizes::SizeRow;
use crate::view::QueueView;

pub(crate) const EVENTS_OFFSET: &str = "events";
pub(crate) const LOGS_OFFSET: &str = "logs";

/// Opens (creating if needed) the view database and applies migrations.
pub async fn open_view_db(path: &Path) -> anyhow::Result<SqlitePool> {
    open(path, Durability::CrashSafe).await
}

/// How a view database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// WAL lets the gateway read while the projector writes; NORMAL syncs at
    /// checkpoints, and the stream can replay anything lost. Each batch and
    /// its offset commit together.
    CrashSafe,
    /// For a rebuild into a fresh file: no rollback journal, no syncs. A
    /// rebuild that dies leaves a database nobody should trust, and is simply
    /// run again. [`finish_rebuild`] switches the file to WAL at the end.
    Rebuild,
}

pub(crate) async fn open(path: &Path, durability: Durability) -> anyhow::Result<SqlitePool> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(5));
    let options = match durability {
        Durability::CrashSafe => options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal),
        Durability::Rebuild => options
            .journal_mode(SqliteJournalMode::Off)
            .synchronous(SqliteSynchronous::Off)
            .pragma("cache_size", "-65536"),
    };
    // One connection: the projector is the single writer.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("opening view database {}", path.display()))?;
    sqlx::migrate!("../../migrations")
        .run(&pool)
        .await
        .with_context(|| format!("migrating view database {}", path.display()))?;
    Ok(pool)
}

/// The end of a rebuild: everything on disk, and the file in WAL mode like
/// one the following projector writes.
pub(crate) async fn finish_rebuild(pool: &SqlitePool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut *conn)
        .await
        .context("switching the rebuilt database to WAL")?;
    Ok(())
}

pub(crate) async fn offset(conn: &mut SqliteConnection, stream: &str) -> sqlx::Result<u64> {
    let row = sqlx::query("SELECT seq FROM projector_offsets WHERE stream = ?")
        .bind(stream)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.get::<i64, _>(0) as u64).unwrap_or(0))
}

pub(crate) async fn set_offset(
    conn: &mut SqliteConnection,
    stream: &str,
    seq: u64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO projector_offsets (stream, seq) VALUES (?, ?)
         ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq",
    )
    .bind(stream)
    .bind(seq as i64)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the database knows of one queue before a batch touches it.
pub(crate) enum Stored {
    Deleted,
    View {
        view: Box<QueueView>,
        submitted_seq: u64,
    },
    Unknown,
}

/// What the database knows of each of `ids`, in one query (not several per
/// queue: each query is a round trip to sqlx's SQLite thread). Ids it does
/// not know are absent from the map.
pub(crate) async fn load_many(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> anyhow::Result<std::collections::HashMap<String, Stored>> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let ids_json = serde_json::to_string(ids)?;
    // `deleted_queues` rows come last, so a deleted id ends as `Deleted`.
    let rows = sqlx::query(
        "SELECT id, view_json, submitted_seq FROM queues
           WHERE id IN (SELECT value FROM json_each(?1))
         UNION ALL
         SELECT id, NULL, NULL FROM deleted_queues
           WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(&ids_json)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let id: String = row.get(0);
        let stored = match row.get::<Option<&str>, _>(1) {
            None => Stored::Deleted,
            Some(json) => Stored::View {
                view: Box::new(
                    serde_json::from_str(json)
                        .with_context(|| format!("reading stored view of queue {id}"))?,
                ),
                submitted_seq: row.get::<i64, _>(2) as u64,
            },
        };
        if matches!(stored, Stored::Deleted) || !out.contains_key(&id) {
            out.insert(id, stored);
        }
    }
    Ok(out)
}

/// One queue row to upsert.
pub(crate) struct SaveRow<'a> {
    pub view: &'a QueueView,
    /// Sequence of the queue's `submitted` event.
    pub submitted_seq: u64,
    /// Sequence of the last event that changed the view.
    pub updated_seq: u64,
    pub view_json: String,
}

/// Upserts every row in one statement (one round trip to sqlx's SQLite
/// thread per batch, not one per queue): the rows travel as one JSON array
/// of `[id, submitted_seq, status, submitted_at, updated_seq, view_json]`.
pub(crate) async fn save_many(
    conn: &mut SqliteConnection,
    rows: &[SaveRow<'_>],
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let array: Vec<(&str, u64, &str, &str, u64, &str)> = rows
        .iter()
        .map(|row| {
            (
                row.view.id.as_str(),
                row.submitted_seq,
                row.view.status.as_str(),
                row.view.submitted_at.as_str(),
                row.updated_seq,
                row.view_json.as_str(),
            )
        })
        .collect();
    let array = serde_json::to_string(&array)?;
    // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause.
    sqlx::query(
        "INSERT INTO queues (id, submitted_seq, status, submitted_at, updated_seq, view_json)
         SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5
           FROM json_each(?) WHERE true
         ON CONFLICT (id) DO UPDATE SET
            status = excluded.status, updated_seq = excluded.updated_seq, view_json = excluded.view_json",
    )
    .bind(array)
    .execute(conn)
    .await?;
    Ok(())
}

/// Overwrites the stored view of queues that exist (a log batch's
/// progress), keeping their sequences.
pub(crate) async fn update_views(
    conn: &mut SqliteConnection,
    views: &[(String, String)],
) -> anyhow::Result<()> {
    if views.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE queues SET view_json = value->>1
           FROM json_each(?) WHERE queues.id = value->>0",
    )
    .bind(serde_json::to_string(views)?)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every expected duration (`expected_durations.rs`).
pub(crate) async fn expected_durations(
    conn: &mut SqliteConnection,
) -> sqlx::Result<Vec<(Key, u64)>> {
    let rows = sqlx::query("SELECT repo, profile, task_id, duration_ms FROM expected_durations")
        .fetch_all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get::<i64, _>(3) as u64))
        .collect())
}

pub(crate) async fn save_expected_durations(
    conn: &mut SqliteConnection,
    entries: &[(Key, u64)],
) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let array: Vec<(&str, &str, &str, u64)> = entries
        .iter()
        .map(|((repo, profile, task), ms)| (repo.as_str(), profile.as_str(), task.as_str(), *ms))
        .collect();
    sqlx::query(
        "INSERT INTO expected_durations (repo, profile, task_id, duration_ms)
         SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?) WHERE true
         ON CONFLICT (repo, profile, task_id) DO UPDATE SET duration_ms = excluded.duration_ms",
    )
    .bind(serde_json::to_string(&array)?)
    .execute(conn)
    .await?;
    Ok(())
}

/// Upserts the batch's firmware sizes (`firmware_sizes.rs`), one row per queue.
pub(crate) async fn save_firmware_sizes(
    conn: &mut SqliteConnection,
    rows: &[SizeRow],
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO firmware_sizes (queue_id, repo, profile, commit_sha, text, data, bss, measured_at, seq)
         SELECT value->>'queue_id', value->>'repo', value->>'profile', value->>'commit',
                value->>'text', value->>'data', value->>'bss', value->>'measured_at', value->>'seq'
           FROM json_each(?) WHERE true
         ON CONFLICT (queue_id) DO UPDATE SET
           repo = excluded.repo, profile = excluded.profile, commit_sha = excluded.commit_sha,
           text = excluded.text, data = excluded.data, bss = excluded.bss,
           measured_at = excluded.measured_at, seq = excluded.seq",
    )
    .bind(serde_json::to_string(rows)?)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn delete(conn: &mut SqliteConnection, id: &str, seq: u64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM queues WHERE id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM firmware_sizes WHERE queue_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM log_files WHERE queue_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT OR IGNORE INTO deleted_queues (id, deleted_seq) VALUES (?, ?)")
        .bind(id)
        .bind(seq as i64)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn is_deleted(conn: &mut SqliteConnection, id: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM deleted_queues WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .is_some())
}

/// Committed length of a queue's log file: (bytes, lines).
pub(crate) async fn log_file(conn: &mut SqliteConnection, id: &str) -> sqlx::Result<(u64, u64)> {
    let row = sqlx::query("SELECT bytes, lines FROM log_files WHERE queue_id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|r| (r.get::<i64, _>(0) as u64, r.get::<i64, _>(1) as u64))
        .unwrap_or((0, 0)))
}

pub(crate) async fn set_log_file(
    conn: &mut SqliteConnection,
    id: &str,
    bytes: u64,
    lines: u64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO log_files (queue_id, bytes, lines) VALUES (?, ?, ?)
         ON CONFLICT (queue_id) DO UPDATE SET bytes = excluded.bytes, lines = excluded.lines",
    )
    .bind(id)
    .bind(bytes as i64)
    .bind(lines as i64)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{Counts, SourceView};

    fn view(id: &str, status: &str, reason: Option<&str>) -> QueueView {
        QueueView {
            id: id.into(),
            status: status.into(),
            source: SourceView {
                repo: "/repo".into(),
                git_ref: "main".into(),
            },
            commit: None,
            profile: None,
            attempt: 0,
            worker: None,
            submitted_at: "2026-11-27T00:00:00Z".into(),
            started_at: None,
            finished_at: None,
            reason: reason.map(Into::into),
            verdict: None,
            cancel_requested: false,
            counts: Counts::default(),
            stages: Vec::new(),
            tasks: Vec::new(),
            artifacts: Vec::new(),
            firmware: None,
        }
    }

    fn row(view: &QueueView, submitted_seq: u64, updated_seq: u64) -> SaveRow<'_> {
        SaveRow {
            view,
            submitted_seq,
            updated_seq,
            view_json: serde_json::to_string(view).unwrap(),
        }
    }

    #[tokio::test]
    async fn rows_saved_in_one_statement_read_back_exactly() {
        for (n, durability) in [Durability::CrashSafe, Durability::Rebuild]
            .into_iter()
            .enumerate()
        {
            let dir = std::env::temp_dir().join(format!(
                "testarena-projector-store-{}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let pool = open(&dir.join("views.sqlite"), durability).await.unwrap();
            let mut conn = pool.acquire().await.unwrap();
            let odd = view(
                "q1",
                "Error",
                Some("a \"quote\", a \\ backslash,\nnew line, \t, \u{1}, é, 🚀"),
            );
            let waiting = view("q2", "Waiting", None);
            save_many(&mut conn, &[row(&odd, 1, 1), row(&waiting, 2, 2)])
                .await
                .unwrap();
            let running = view("q2", "Running", None);
            save_many(&mut conn, &[row(&running, 2, 5)]).await.unwrap();
            save_many(&mut conn, &[row(&view("q3", "Waiting", None), 3, 3)])
                .await
                .unwrap();
            delete(&mut conn, "q3", 6).await.unwrap();

            let ids = ["q1", "q2", "q3", "q4"].map(String::from);
            let mut loaded = load_many(&mut conn, &ids).await.unwrap();
            assert!(matches!(
                loaded.remove("q1"),
                Some(Stored::View { view, submitted_seq: 1 }) if *view == odd
            ));
            assert!(matches!(
                loaded.remove("q2"),
                Some(Stored::View { view, submitted_seq: 2 }) if *view == running
            ));
            assert!(matches!(loaded.remove("q3"), Some(Stored::Deleted)));
            assert!(loaded.is_empty(), "q4 is unknown");

            let stored: Vec<(String, i64, String, String, i64, String)> = sqlx::query_as(
                "SELECT id, submitted_seq, status, submitted_at, updated_seq, view_json
                 FROM queues ORDER BY id",
            )
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            let expected = [(&odd, 1, 1), (&running, 2, 5)].map(|(v, s, u)| {
                (
                    v.id.clone(),
                    s,
                    v.status.clone(),
                    v.submitted_at.clone(),
                    u,
                    serde_json::to_string(v).unwrap(),
                )
            });
            assert_eq!(stored, expected);
            drop(conn);
            if durability == Durability::Rebuild {
                finish_rebuild(&pool).await.unwrap();
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!(mode, "wal");
            }
            pool.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
