//! The SQLite side of the projector: opening the view database (schema from
//! `migrations/`), and the reads and writes one projected batch needs. All
//! writes happen inside the caller's transaction.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::event_batch::Stored;
use crate::expected_durations::Key;
use crate::firmware_sizes::SizeRow;
use crate::test_history::HistoryChanges;
use crate::view::QueueView;
use crate::view_counts::CountChanges;
use testarena_events::{
    window_figures, LogAttempts, TestEventBody, TestKey, TestRun, WindowFigures, DEFAULT_WINDOW,
};

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

/// Every test (`test_history.rs`), and the quarantined ones.
pub(crate) async fn tests(
    conn: &mut SqliteConnection,
) -> sqlx::Result<(Vec<TestKey>, Vec<TestKey>)> {
    let rows = sqlx::query("SELECT repo, profile, task, case_name, quarantined FROM tests")
        .fetch_all(conn)
        .await?;
    let mut known = Vec::with_capacity(rows.len());
    let mut quarantined = Vec::new();
    for r in rows {
        let key = TestKey::trusted(r.get(0), r.get(1), r.get(2), r.get(3));
        if r.get::<i64, _>(4) != 0 {
            quarantined.push(key.clone());
        }
        known.push(key);
    }
    Ok((known, quarantined))
}

/// A test key as a JSON array's first four values.
fn key_parts(key: &TestKey) -> [&str; 4] {
    [key.repo(), key.profile(), key.task(), key.case()]
}

/// Stores a batch's test history: new tests (in order, so ids follow the
/// stream), quarantines as they end the batch, then the runs, each kind in
/// one statement; the new figures of each test that got a run.
pub(crate) async fn save_test_history(
    conn: &mut SqliteConnection,
    changes: &HistoryChanges,
) -> anyhow::Result<Vec<(TestKey, WindowFigures)>> {
    if !changes.new_tests.is_empty() {
        let array: Vec<[&str; 4]> = changes.new_tests.iter().map(key_parts).collect();
        sqlx::query(
            "INSERT INTO tests (repo, profile, task, case_name)
             SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?) WHERE true
             ON CONFLICT DO NOTHING",
        )
        .bind(serde_json::to_string(&array)?)
        .execute(&mut *conn)
        .await?;
    }
    if !changes.quarantines.is_empty() {
        let array: Vec<(&str, &str, &str, &str, Option<&str>)> = changes
            .quarantines
            .iter()
            .map(|(key, reason)| {
                let [repo, profile, task, case] = key_parts(key);
                (repo, profile, task, case, reason.as_deref())
            })
            .collect();
        sqlx::query(
            "UPDATE tests SET quarantined = (value->>4 IS NOT NULL), quarantine_reason = value->>4
               FROM json_each(?)
              WHERE repo = value->>0 AND profile = value->>1 AND task = value->>2 AND case_name = value->>3",
        )
        .bind(serde_json::to_string(&array)?)
        .execute(&mut *conn)
        .await?;
    }
    save_quarantine_events(conn, changes).await?;
    save_runs(conn, changes).await?;
    refresh_summaries(conn, changes).await
}

/// Each test event of the batch as a row of its test's quarantine history.
async fn save_quarantine_events(
    conn: &mut SqliteConnection,
    changes: &HistoryChanges,
) -> anyhow::Result<()> {
    if changes.quarantine_events.is_empty() {
        return Ok(());
    }
    let array: Vec<serde_json::Value> = changes
        .quarantine_events
        .iter()
        .map(|(seq, event)| {
            let [repo, profile, task, case] = key_parts(&event.test);
            let (quarantined, reason, by, actor) = match &event.body {
                TestEventBody::Quarantined { reason, by, actor } => {
                    (true, Some(reason), Some(by), actor)
                }
                TestEventBody::Unquarantined { reason, actor } => {
                    (false, reason.as_ref(), None, actor)
                }
            };
            serde_json::json!([
                repo,
                profile,
                task,
                case,
                seq,
                quarantined,
                reason,
                by,
                actor,
                event.at
            ])
        })
        .collect();
    // A replayed batch (a projector killed before its commit) is a no-op.
    sqlx::query(
        "INSERT OR IGNORE INTO test_quarantine_events
            (test_id, seq, quarantined, reason, by_whom, actor, at)
         SELECT t.id, j.value->>4, j.value->>5, j.value->>6, j.value->>7, j.value->>8, j.value->>9
           FROM json_each(?) j
           JOIN tests t ON t.repo = j.value->>0 AND t.profile = j.value->>1
                       AND t.task = j.value->>2 AND t.case_name = j.value->>3",
    )
    .bind(serde_json::to_string(&array)?)
    .execute(conn)
    .await?;
    Ok(())
}

async fn save_runs(conn: &mut SqliteConnection, changes: &HistoryChanges) -> anyhow::Result<()> {
    if changes.runs.is_empty() {
        return Ok(());
    }
    let array: Vec<serde_json::Value> = changes
        .runs
        .iter()
        .map(|row| {
            let [repo, profile, task, case] = key_parts(&row.key);
            let run = &row.run;
            Ok(serde_json::json!([
                repo,
                profile,
                task,
                case,
                row.seq,
                run.try_number,
                run.queue_id,
                run.commit,
                run.attempt,
                run.result,
                run.duration_ms,
                run.at,
                run.bisect,
                (!run.tries.is_empty())
                    .then(|| serde_json::to_string(&run.tries))
                    .transpose()?,
                run.message
            ]))
        })
        .collect::<serde_json::Result<_>>()?;
    // A replayed batch (a projector killed before its commit) is a no-op.
    sqlx::query(
        "INSERT OR IGNORE INTO test_runs
            (test_id, seq, try, queue_id, commit_sha, attempt, result, duration_ms, at,
             bisect_id, tries_json, message)
         SELECT t.id, j.value->>4, j.value->>5, j.value->>6, j.value->>7, j.value->>8,
                j.value->>9, j.value->>10, j.value->>11, j.value->>12, j.value->>13, j.value->>14
           FROM json_each(?) j
           JOIN tests t ON t.repo = j.value->>0 AND t.profile = j.value->>1
                       AND t.task = j.value->>2 AND t.case_name = j.value->>3",
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
        "INSERT INTO firmware_sizes (queue_id, repo, profile, commit_sha, text, data, bss,
                                    commit_depth, flash_budget, ram_budget, symbols_json,
                                    measured_at, seq)
         SELECT value->>'queue_id', value->>'repo', value->>'profile', value->>'commit',
                value->>'text', value->>'data', value->>'bss', value->>'commit_depth',
                value->>'flash_budget', value->>'ram_budget', value->'symbols',
                value->>'measured_at', value->>'seq'
           FROM json_each(?) WHERE true
         ON CONFLICT (queue_id) DO UPDATE SET
           repo = excluded.repo, profile = excluded.profile, commit_sha = excluded.commit_sha,
           text = excluded.text, data = excluded.data, bss = excluded.bss,
           commit_depth = excluded.commit_depth, flash_budget = excluded.flash_budget,
           ram_budget = excluded.ram_budget, symbols_json = excluded.symbols_json,
           measured_at = excluded.measured_at, seq = excluded.seq",
    )
    .bind(serde_json::to_string(rows)?)
    .execute(conn)
    .await?;
    Ok(())
}

/// Rewrites the stored figures of every test this batch gave a run; those
/// figures, by test.
async fn refresh_summaries(
    conn: &mut SqliteConnection,
    changes: &HistoryChanges,
) -> anyhow::Result<Vec<(TestKey, WindowFigures)>> {
    let mut touched: Vec<&TestKey> = changes.runs.iter().map(|row| &row.key).collect();
    touched.sort();
    touched.dedup();
    if touched.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<[&str; 4]> = touched.iter().map(|key| key_parts(key)).collect();
    let rows = sqlx::query(
        "SELECT t.id, t.repo, t.profile, t.task, t.case_name FROM json_each(?) j
           JOIN tests t ON t.repo = j.value->>0 AND t.profile = j.value->>1
                       AND t.task = j.value->>2 AND t.case_name = j.value->>3",
    )
    .bind(serde_json::to_string(&keys)?)
    .fetch_all(&mut *conn)
    .await?;
    let keys: std::collections::HashMap<i64, TestKey> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                TestKey::trusted(r.get(1), r.get(2), r.get(3), r.get(4)),
            )
        })
        .collect();
    let ids: Vec<i64> = keys.keys().copied().collect();
    let figures = refresh_figures(conn, &ids).await?;
    Ok(figures
        .into_iter()
        .filter_map(|(id, figures)| Some((keys.get(&id)?.clone(), figures)))
        .collect())
}

/// Rewrites `summary_json` of the tests `ids`: each one's last 30 runs read
/// back (this batch's included; bisect runs left out), folded by the pure `window_figures`,
/// written in one statement (a test left without runs gets empty figures).
async fn refresh_figures(
    conn: &mut SqliteConnection,
    ids: &[i64],
) -> anyhow::Result<Vec<(i64, WindowFigures)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT t.value, r.queue_id, r.commit_sha, r.attempt, r.try, r.result, r.duration_ms, r.at
           FROM json_each(?1) t
           JOIN test_runs r ON r.test_id = t.value AND r.bisect_id IS NULL AND r.seq >= coalesce(
                (SELECT seq FROM test_runs WHERE test_id = t.value AND bisect_id IS NULL
                  ORDER BY seq DESC, try DESC LIMIT 1 OFFSET ?2 - 1), 0)
          ORDER BY t.value, r.seq DESC, r.try DESC",
    )
    .bind(serde_json::to_string(ids)?)
    .bind(i64::from(DEFAULT_WINDOW))
    .fetch_all(&mut *conn)
    .await?;
    let mut windows: std::collections::BTreeMap<i64, Vec<TestRun>> =
        ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in &rows {
        let runs = windows.entry(row.get(0)).or_default();
        if runs.len() < DEFAULT_WINDOW as usize {
            runs.push(TestRun {
                queue_id: row.get(1),
                commit: row.get(2),
                attempt: row.get::<i64, _>(3) as u32,
                try_number: row.get::<i64, _>(4) as u32,
                result: row.get(5),
                duration_ms: row.get::<i64, _>(6) as u64,
                at: row.get(7),
                // Figures need none of these: bisect runs are not read, tries
                // not counted, messages not looked at.
                bisect: None,
                tries: Vec::new(),
                message: None,
            });
        }
    }
    let figures: Vec<(i64, WindowFigures)> = windows
        .iter()
        .map(|(id, runs)| (*id, window_figures(runs)))
        .collect();
    let rows: Vec<(i64, String)> = figures
        .iter()
        .map(|(id, f)| Ok((*id, serde_json::to_string(f)?)))
        .collect::<anyhow::Result<_>>()?;
    sqlx::query(
        "UPDATE tests SET summary_json = value->>1 FROM json_each(?) WHERE tests.id = value->>0",
    )
    .bind(serde_json::to_string(&rows)?)
    .execute(conn)
    .await?;
    Ok(figures)
}

pub(crate) async fn delete(conn: &mut SqliteConnection, id: &str, seq: u64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM queues WHERE id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    // The queue's runs go, and the figures of the tests they were runs of.
    let tests: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT test_id FROM test_runs WHERE queue_id = ?")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM test_runs WHERE queue_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    refresh_figures(conn, &tests).await?;
    sqlx::query("DELETE FROM firmware_sizes WHERE queue_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM log_files WHERE queue_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM log_attempts WHERE queue_id = ?")
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

/// Forgets the log files of queues whose logs expired: a log batch that
/// came after (none should) would start a new file.
pub(crate) async fn forget_logs(conn: &mut SqliteConnection, ids: &[String]) -> anyhow::Result<()> {
    let ids = serde_json::to_string(ids)?;
    for table in [
        "DELETE FROM log_files WHERE queue_id IN (SELECT value FROM json_each(?))",
        "DELETE FROM log_attempts WHERE queue_id IN (SELECT value FROM json_each(?))",
    ] {
        sqlx::query(table).bind(&ids).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Adds a batch's changes to the `/metrics` counts (`view_counts.rs`).
pub(crate) async fn save_view_counts(
    conn: &mut SqliteConnection,
    changes: &CountChanges,
) -> sqlx::Result<()> {
    for (kind, key, delta) in changes.rows() {
        sqlx::query(
            "INSERT INTO view_counts (kind, key, n) VALUES (?, ?, ?)
             ON CONFLICT (kind, key) DO UPDATE SET n = n + excluded.n",
        )
        .bind(kind)
        .bind(key)
        .bind(delta)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Where a snapshot's folder restore stands: the last queue id written
/// (empty before the first), or `None` when no restore is pending.
pub(crate) async fn folder_restore(conn: &mut SqliteConnection) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT after FROM folder_restore WHERE one = 1")
        .fetch_optional(conn)
        .await
}

/// Records the folder restore's progress; `None` ends it.
pub(crate) async fn set_folder_restore(
    conn: &mut SqliteConnection,
    after: Option<&str>,
) -> sqlx::Result<()> {
    match after {
        Some(after) => {
            sqlx::query(
                "INSERT INTO folder_restore (one, after) VALUES (1, ?)
                 ON CONFLICT (one) DO UPDATE SET after = excluded.after",
            )
            .bind(after)
            .execute(conn)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM folder_restore")
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

/// The next `limit` queues after id `after`, in id order: (id, view JSON).
pub(crate) async fn views_after(
    conn: &mut SqliteConnection,
    after: &str,
    limit: usize,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT id, view_json FROM queues WHERE id > ? ORDER BY id LIMIT ?")
        .bind(after)
        .bind(limit as i64)
        .fetch_all(conn)
        .await
}

/// A restored snapshot holds no `queue_log.txt`: every log file is
/// forgotten and the logs stream replayed from its start.
pub(crate) async fn forget_all_logs(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM log_files")
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM log_attempts")
        .execute(&mut *conn)
        .await?;
    set_offset(conn, LOGS_OFFSET, 0).await?;
    Ok(())
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

/// The newest attempt with a line in a queue's log file, per shard.
pub(crate) async fn log_attempts(
    conn: &mut SqliteConnection,
    id: &str,
) -> sqlx::Result<LogAttempts> {
    let rows = sqlx::query("SELECT shard, attempt FROM log_attempts WHERE queue_id = ?")
        .bind(id)
        .fetch_all(conn)
        .await?;
    Ok(LogAttempts::from_newest(rows.iter().map(|r| {
        let shard = u8::try_from(r.get::<i64, _>(0)).ok();
        (shard, r.get::<i64, _>(1) as u32)
    })))
}

pub(crate) async fn set_log_attempts(
    conn: &mut SqliteConnection,
    id: &str,
    attempts: &LogAttempts,
) -> sqlx::Result<()> {
    for (shard, attempt) in attempts.pairs() {
        sqlx::query(
            "INSERT INTO log_attempts (queue_id, shard, attempt) VALUES (?, ?, ?)
             ON CONFLICT (queue_id, shard) DO UPDATE SET attempt = excluded.attempt",
        )
        .bind(id)
        .bind(shard.map_or(-1, i64::from))
        .bind(i64::from(attempt))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{Counts, SourceView};
    use testarena_events::{Priority, QueueStatus};

    fn view(id: &str, status: &str, reason: Option<&str>) -> QueueView {
        QueueView {
            id: id.into(),
            status: QueueStatus::parse(status).unwrap(),
            source: SourceView {
                repo: "/repo".into(),
                git_ref: "main".into(),
            },
            commit: None,
            commit_context: None,
            profile: None,
            requires: Vec::new(),
            priority: Priority::Normal,
            owner: "anonymous".into(),
            position: None,
            waiting_reason: None,
            worker_available: None,
            attempt: 0,
            worker: None,
            submitted_at: "2026-11-27T00:00:00Z".into(),
            started_at: None,
            finished_at: None,
            reason: reason.map(Into::into),
            verdict: None,
            cancel_requested: false,
            shards: Vec::new(),
            counts: Counts::default(),
            stages: Vec::new(),
            tasks: Vec::new(),
            artifacts: Vec::new(),
            firmware: None,
            firmware_budget: None,
            bisect: None,
            rerun_of: None,
            log_expired_at: None,
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
                    v.status.to_string(),
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

#[cfg(test)]
mod history_tests {
    use super::*;
    use crate::test_history::RunRow;

    fn run(queue: &str, result: &str) -> TestRun {
        TestRun {
            queue_id: queue.into(),
            commit: Some("c".into()),
            attempt: 1,
            try_number: 1,
            result: result.into(),
            duration_ms: 7,
            at: "t".into(),
            bisect: None,
            tries: Vec::new(),
            message: None,
        }
    }

    #[tokio::test]
    async fn runs_are_stored_with_the_figures_of_their_tests_and_go_with_a_deleted_queue() {
        let dir = std::env::temp_dir().join(format!(
            "testarena-projector-history-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let pool = open(&dir.join("views.sqlite"), Durability::CrashSafe)
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let key = TestKey::trusted("/repo", "", "t", "");
        let changes = HistoryChanges {
            new_tests: vec![key.clone()],
            quarantines: Default::default(),
            quarantine_events: Default::default(),
            runs: vec![
                RunRow {
                    key: key.clone(),
                    seq: 1,
                    run: run("q1", "PASS"),
                },
                RunRow {
                    key: key.clone(),
                    seq: 2,
                    run: run("q2", "FAIL"),
                },
                RunRow {
                    key: key.clone(),
                    seq: 3,
                    run: TestRun {
                        bisect: Some("b1".into()),
                        ..run("q3", "FAIL")
                    },
                },
            ],
        };
        save_test_history(&mut conn, &changes).await.unwrap();
        let figures = || async {
            let json: String = sqlx::query_scalar("SELECT summary_json FROM tests")
                .fetch_one(&pool)
                .await
                .unwrap();
            serde_json::from_str::<testarena_events::WindowFigures>(&json).unwrap()
        };
        drop(conn);
        let stored = figures().await;
        assert_eq!(
            (stored.runs, stored.failures, stored.flip_rate),
            (2, 1, 1.0),
            "the bisect run is stored but left out"
        );
        let bisects: i64 =
            sqlx::query_scalar("SELECT count(*) FROM test_runs WHERE bisect_id = 'b1'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(bisects, 1);
        assert_eq!(stored.last_result.as_deref(), Some("FAIL"));
        let mut conn = pool.acquire().await.unwrap();
        delete(&mut conn, "q2", 4).await.unwrap();
        drop(conn);
        let stored = figures().await;
        assert_eq!((stored.runs, stored.failures), (1, 0));
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
