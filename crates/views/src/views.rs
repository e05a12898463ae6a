//! Read side of the SQLite views the projector writes: every SQL statement
//! of the gateway and the scheduler is here. The database is opened
//! read-only and lazily: a reader may start before the projector has
//! created the file (the gateway answers 503 until then). Errors are this
//! module's own (`ViewsError`); each service maps them at its edge.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use testarena_events::{
    window_figures, BisectView, QuarantineRecord, QueueView, SizeEntry, TestKey, TestRun,
    WindowFigures,
};

#[derive(Debug, thiserror::Error)]
pub enum ViewsError {
    #[error("view database: {0}")]
    Unavailable(#[from] sqlx::Error),
    #[error("a stored queue view does not parse: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Which tests a list shows; `None` matches everything.
#[derive(Debug, Default)]
pub struct TestFilter<'a> {
    /// The repository URL, exactly.
    pub repo: Option<&'a str>,
    /// The profile, exactly (`""`: the worker's default).
    pub profile: Option<&'a str>,
    /// A substring (any case) of the task id or the case name.
    pub text: Option<&'a str>,
}

impl<'a> TestFilter<'a> {
    /// Binds `?1`–`?3` of [`test_filter!`]'s clause, in its order.
    fn bind(&self, query: SqliteQuery<'a>) -> SqliteQuery<'a> {
        query.bind(self.repo).bind(self.profile).bind(self.text)
    }
}

/// The `WHERE` clause of a filtered test list, on `tests` (as `t` or
/// unaliased): the filter's three values bound as `?1`…`?3`.
macro_rules! test_filter {
    () => {
        "(?1 IS NULL OR repo = ?1)
     AND (?2 IS NULL OR profile = ?2)
     AND (?3 IS NULL OR instr(lower(task), lower(?3)) > 0 OR instr(lower(case_name), lower(?3)) > 0)"
    };
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

#[derive(Clone)]
pub struct Views {
    pub(crate) pool: SqlitePool,
}

/// One queue's firmware measure as the size diff reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredRow {
    pub queue_id: String,
    pub commit: Option<String>,
    pub measured: testarena_events::Measured,
}

fn measured_row(row: &sqlx::sqlite::SqliteRow) -> Result<MeasuredRow, ViewsError> {
    let symbols: String = row.get(5);
    Ok(MeasuredRow {
        queue_id: row.get(0),
        commit: row.get(1),
        measured: testarena_events::Measured {
            size: testarena_events::FirmwareSize {
                text: row.get::<i64, _>(2) as u64,
                data: row.get::<i64, _>(3) as u64,
                bss: row.get::<i64, _>(4) as u64,
            },
            symbols: serde_json::from_str(&symbols)?,
        },
    })
}

/// Counts for `/metrics`, from the view rows.
pub struct MetricsCounts {
    /// (status, queues)
    pub queues: Vec<(String, i64)>,
    /// (result, or status while unfinished; tasks)
    pub tasks: Vec<(String, i64)>,
}

impl Views {
    pub fn open_lazy(path: &Path) -> Self {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .connect_lazy_with(options);
        Self { pool }
    }

    /// For tests: an empty view database in memory, migrated as the
    /// projector migrates its file.
    #[cfg(test)]
    pub(crate) async fn in_memory() -> Self {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::migrate!("../../migrations").run(&pool).await.unwrap();
        Self { pool }
    }

    pub async fn queue(&self, id: &str) -> Result<Option<QueueView>, ViewsError> {
        let row = sqlx::query("SELECT view_json FROM queues WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| parse_view(row.get::<&str, _>(0))).transpose()
    }

    /// The last recorded duration of each task (`None` where there is none)
    /// for a queue of `repo` and `profile` (`None`: the default), as the
    /// projector records them for `expected_duration_ms`.
    pub async fn expected_durations(
        &self,
        repo: &testarena_events::RepoUrl,
        profile: Option<&testarena_events::ProfileName>,
        tasks: &[testarena_events::TaskSpec],
    ) -> Result<Vec<Option<u64>>, ViewsError> {
        let rows = sqlx::query(
            "SELECT task_id, duration_ms FROM expected_durations WHERE repo = ? AND profile = ?",
        )
        .bind(repo.as_str())
        .bind(profile.map_or("", |p| p.as_str()))
        .fetch_all(&self.pool)
        .await?;
        let known: std::collections::HashMap<String, i64> = rows
            .iter()
            .map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1)))
            .collect();
        Ok(tasks
            .iter()
            .map(|t| {
                known
                    .get(t.id.as_str())
                    .and_then(|ms| u64::try_from(*ms).ok())
            })
            .collect())
    }

    /// Queues by status and tasks by result (or status while unfinished),
    /// as the projector keeps them (`view_counts`): a few rows, not a scan.
    pub async fn metrics_counts(&self) -> Result<MetricsCounts, ViewsError> {
        let rows =
            sqlx::query("SELECT kind, key, n FROM view_counts WHERE n != 0 ORDER BY kind, key")
                .fetch_all(&self.pool)
                .await?;
        let mut counts = MetricsCounts {
            queues: Vec::new(),
            tasks: Vec::new(),
        };
        for row in rows {
            let pair = (row.get::<String, _>(1), row.get::<i64, _>(2));
            match row.get::<&str, _>(0) {
                "queue_status" => counts.queues.push(pair),
                _ => counts.tasks.push(pair),
            }
        }
        Ok(counts)
    }

    /// The tests `filter` selects, in key order, each with its figures over
    /// its last `window` runs, read from `test_runs` in one statement: for a
    /// window other than the one the projector stores per test (whose list
    /// is [`Views::test_page`]).
    pub async fn tests(
        &self,
        filter: &TestFilter<'_>,
        window: u32,
    ) -> Result<Vec<(StoredTest, WindowFigures)>, ViewsError> {
        let mut tests = self.figures_over(filter, window).await?;
        tests.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        Ok(tests)
    }

    /// Each test's last `window` runs (bisect runs left out): one range of
    /// `test_runs`' key per test, from its `window`-th newest run's sequence on.
    async fn figures_over(
        &self,
        filter: &TestFilter<'_>,
        window: u32,
    ) -> Result<Vec<(StoredTest, WindowFigures)>, ViewsError> {
        let rows = sqlx::query(concat!(
            "SELECT t.id, t.repo, t.profile, t.task, t.case_name, t.quarantined, t.quarantine_reason,
                    r.queue_id, r.commit_sha, r.attempt, r.try, r.result, r.duration_ms, r.at,
                    r.bisect_id, r.tries_json
               FROM tests t
               LEFT JOIN test_runs r ON r.test_id = t.id AND r.bisect_id IS NULL AND r.seq >= coalesce(
                    (SELECT seq FROM test_runs WHERE test_id = t.id AND bisect_id IS NULL
                      ORDER BY seq DESC, try DESC LIMIT 1 OFFSET ?4 - 1), 0)
              WHERE ",
            test_filter!(),
            " ORDER BY t.id, r.seq DESC, r.try DESC"
        ));
        let rows = filter
            .bind(rows)
            .bind(i64::from(window.max(1)))
            .fetch_all(&self.pool)
            .await?;
        let mut tests: Vec<(i64, StoredTest, Vec<TestRun>)> = Vec::new();
        for row in &rows {
            let id: i64 = row.get(0);
            if tests.last().is_none_or(|(last, ..)| *last != id) {
                tests.push((id, stored_test(row), Vec::new()));
            }
            let runs = &mut tests.last_mut().expect("pushed above").2;
            // Tries sharing the cut-off sequence can pass the window: trimmed here.
            if row.get::<Option<String>, _>(7).is_some() && runs.len() < window as usize {
                runs.push(run_of(row, 7)?);
            }
        }
        Ok(tests
            .into_iter()
            .map(|(_, test, runs)| (test, window_figures(&runs)))
            .collect())
    }

    /// One test and its newest `limit` runs, newest first, and apart from
    /// them its newest `limit` runs in bisect step queues; `None` when the
    /// test is unknown.
    pub async fn test_history(
        &self,
        key: &TestKey,
        limit: u32,
    ) -> Result<Option<StoredHistory>, ViewsError> {
        let test = sqlx::query(
            "SELECT id, repo, profile, task, case_name, quarantined, quarantine_reason FROM tests
              WHERE repo = ? AND profile = ? AND task = ? AND case_name = ?",
        )
        .bind(key.repo())
        .bind(key.profile())
        .bind(key.task())
        .bind(key.case())
        .fetch_optional(&self.pool)
        .await?;
        let Some(test) = test else {
            return Ok(None);
        };
        let id = test.get::<i64, _>(0);
        Ok(Some(StoredHistory {
            test: stored_test(&test),
            runs: self.runs_of(id, false, limit).await?,
            bisect_runs: self.runs_of(id, true, limit).await?,
            quarantines: self.quarantines_of(id).await?,
        }))
    }

    /// A test's quarantines and their ends, newest first.
    async fn quarantines_of(&self, test_id: i64) -> Result<Vec<QuarantineRecord>, ViewsError> {
        let rows = sqlx::query(
            "SELECT quarantined, at, reason, by_whom, actor FROM test_quarantine_events
              WHERE test_id = ? ORDER BY seq DESC",
        )
        .bind(test_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| QuarantineRecord {
                quarantined: row.get::<i64, _>(0) != 0,
                at: row.get(1),
                reason: row.get(2),
                by: row.get(3),
                actor: row.get(4),
            })
            .collect())
    }

    /// A test's newest `limit` runs, of bisect step queues or of the others.
    async fn runs_of(
        &self,
        test_id: i64,
        bisect: bool,
        limit: u32,
    ) -> Result<Vec<TestRun>, ViewsError> {
        let rows = sqlx::query(
            "SELECT queue_id, commit_sha, attempt, try, result, duration_ms, at, bisect_id, tries_json,
                    message
               FROM test_runs
              WHERE test_id = ? AND (bisect_id IS NOT NULL) = ?
              ORDER BY seq DESC, try DESC LIMIT ?",
        )
        .bind(test_id)
        .bind(bisect)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| run_of(row, 0)).collect()
    }

    /// The firmware sizes of `repo` (and `profile`, when given), one per
    /// commit (its latest measure), newest first in commit order (by
    /// first-parent depth; measures without one after, newest measured
    /// first), at most `limit`.
    pub async fn sizes(
        &self,
        repo: &str,
        profile: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SizeEntry>, ViewsError> {
        let rows = sqlx::query(
            "SELECT commit_sha, queue_id, profile, measured_at, text, data, bss,
                    commit_depth, flash_budget, ram_budget
               FROM firmware_sizes f
              WHERE repo = ?1 AND (?2 IS NULL OR profile = ?2)
                AND seq = (SELECT max(seq) FROM firmware_sizes g
                            WHERE g.repo = f.repo AND g.profile = f.profile
                              AND g.commit_sha IS f.commit_sha)
              ORDER BY commit_depth IS NULL, commit_depth DESC, seq DESC LIMIT ?3",
        )
        .bind(repo)
        .bind(profile)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let count =
            |r: &sqlx::sqlite::SqliteRow, at: usize| r.get::<Option<i64>, _>(at).map(|n| n as u64);
        Ok(rows
            .iter()
            .map(|r| SizeEntry {
                commit: r.get(0),
                queue_id: r.get(1),
                profile: r.get(2),
                measured_at: r.get(3),
                text: r.get::<i64, _>(4) as u64,
                data: r.get::<i64, _>(5) as u64,
                bss: r.get::<i64, _>(6) as u64,
                first_parent_depth: count(r, 7),
                flash_budget: count(r, 8),
                ram_budget: count(r, 9),
            })
            .collect())
    }

    /// Every repository and profile with measured firmware, the latest
    /// measured first, at most `limit`: the Sizes page's picker.
    pub async fn size_sources(
        &self,
        limit: u32,
    ) -> Result<Vec<testarena_events::SizeSource>, ViewsError> {
        let rows = sqlx::query(
            "SELECT repo, profile, count(DISTINCT commit_sha), max(measured_at)
               FROM firmware_sizes GROUP BY repo, profile ORDER BY max(seq) DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| testarena_events::SizeSource {
                repo: r.get(0),
                profile: r.get(1),
                commits: r.get::<i64, _>(2) as u64,
                last_measured_at: r.get(3),
            })
            .collect())
    }

    /// A queue's measure and the one its size diff is against: the same
    /// repository and profile's nearest earlier other commit (by
    /// first-parent depth when both have one, else by when it was
    /// measured). `None` when the queue measured nothing.
    pub async fn size_diff_sides(
        &self,
        queue_id: &str,
    ) -> Result<Option<(MeasuredRow, Option<MeasuredRow>)>, ViewsError> {
        let now = sqlx::query(
            "SELECT queue_id, commit_sha, text, data, bss, symbols_json,
                    repo, profile, commit_depth, seq
               FROM firmware_sizes WHERE queue_id = ?",
        )
        .bind(queue_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(now) = now else {
            return Ok(None);
        };
        let (repo, profile): (String, String) = (now.get(6), now.get(7));
        let (depth, seq): (Option<i64>, i64) = (now.get(8), now.get(9));
        let base = sqlx::query(
            "SELECT queue_id, commit_sha, text, data, bss, symbols_json FROM firmware_sizes
              WHERE repo = ?1 AND profile = ?2 AND commit_sha IS NOT ?3
                AND CASE WHEN ?4 IS NOT NULL AND commit_depth IS NOT NULL
                         THEN commit_depth < ?4 ELSE seq < ?5 END
              ORDER BY commit_depth IS NULL, commit_depth DESC, seq DESC LIMIT 1",
        )
        .bind(&repo)
        .bind(&profile)
        .bind(now.get::<Option<String>, _>(1))
        .bind(depth)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        Ok(Some((
            measured_row(&now)?,
            base.as_ref().map(measured_row).transpose()?,
        )))
    }

    /// Several queues' views, those that exist (a bisect's step queues).
    pub async fn queues(&self, ids: &[String]) -> Result<Vec<QueueView>, ViewsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT view_json FROM queues WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(ids)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| parse_view(row.get::<&str, _>(0)))
            .collect()
    }

    pub async fn bisect(&self, id: &str) -> Result<Option<BisectView>, ViewsError> {
        let row = sqlx::query("SELECT view_json FROM bisects WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| serde_json::from_str(row.get::<&str, _>(0)))
            .transpose()?)
    }

    /// Bisects newest first: all of them, or those of one status.
    pub async fn bisects(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<BisectView>, ViewsError> {
        let rows = sqlx::query(
            "SELECT view_json FROM bisects WHERE (?1 IS NULL OR status = ?1)
             ORDER BY requested_seq DESC LIMIT ?2",
        )
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(serde_json::from_str(row.get::<&str, _>(0))?))
            .collect()
    }

    /// The events-stream sequence the projector has committed.
    pub async fn applied_events(&self) -> Result<u64, ViewsError> {
        let row = sqlx::query("SELECT seq FROM projector_offsets WHERE stream = 'events'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64).unwrap_or(0))
    }
}

/// A test as stored: its identity and quarantine.
#[derive(Debug)]
pub struct StoredTest {
    pub key: TestKey,
    pub quarantine_reason: Option<String>,
}

/// One test's history as stored: its runs, and apart from them its runs
/// in bisect step queues (left out of its state), each newest first.
#[derive(Debug)]
pub struct StoredHistory {
    pub test: StoredTest,
    pub runs: Vec<TestRun>,
    pub bisect_runs: Vec<TestRun>,
    /// Its quarantines and their ends, newest first.
    pub quarantines: Vec<QuarantineRecord>,
}

/// A run from nine columns from `at` on: queue, commit, attempt, try,
/// result, duration, end, bisect, tries; and a tenth, the message, where
/// the row has one.
fn run_of(row: &sqlx::sqlite::SqliteRow, at: usize) -> Result<TestRun, ViewsError> {
    let tries = match row.get::<Option<&str>, _>(at + 8) {
        Some(json) => serde_json::from_str(json)?,
        None => Vec::new(),
    };
    Ok(TestRun {
        queue_id: row.get(at),
        commit: row.get(at + 1),
        attempt: row.get::<i64, _>(at + 2) as u32,
        try_number: row.get::<i64, _>(at + 3) as u32,
        result: row.get(at + 4),
        duration_ms: row.get::<i64, _>(at + 5) as u64,
        at: row.get(at + 6),
        bisect: row.get(at + 7),
        tries,
        message: row.try_get(at + 9).ok().flatten(),
    })
}

/// Columns 1–6 of a `tests` row: repo, profile, task, case, quarantined, reason.
pub(crate) fn stored_test(row: &sqlx::sqlite::SqliteRow) -> StoredTest {
    let key = TestKey::trusted(row.get(1), row.get(2), row.get(3), row.get(4));
    let quarantined: bool = row.get::<i64, _>(5) != 0;
    StoredTest {
        key,
        quarantine_reason: quarantined.then(|| row.get::<Option<String>, _>(6).unwrap_or_default()),
    }
}

pub(crate) fn parse_view(json: &str) -> Result<QueueView, ViewsError> {
    Ok(serde_json::from_str(json)?)
}
