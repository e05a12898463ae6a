//! Read side of the SQLite views the projector writes: every SQL statement
//! of the gateway is here. The database is opened read-only and lazily: the
//! gateway may start before the projector has created the file, and answers
//! 503 until then. Errors are this module's own (`ViewsError`); the HTTP
//! edge maps them to `ApiError`.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use testarena_events::{QueueView, SizeEntry};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ViewsError {
    #[error("view database: {0}")]
    Unavailable(#[from] sqlx::Error),
    #[error("a stored queue view does not parse: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Which queues a list shows; `None` matches everything.
#[derive(Debug, Default)]
pub(crate) struct QueueFilter<'a> {
    /// The status word, exactly.
    pub status: Option<&'a str>,
    /// A substring of the source URL (so the exact URL matches too).
    pub repo: Option<&'a str>,
    /// The submitted ref, exactly.
    pub git_ref: Option<&'a str>,
    /// A prefix of the resolved commit SHA.
    pub commit: Option<&'a str>,
    /// The profile, exactly.
    pub profile: Option<&'a str>,
    /// A substring (any case) of the id, repo, ref or commit.
    pub text: Option<&'a str>,
}

impl<'a> QueueFilter<'a> {
    /// Binds `?1`–`?6` of [`filter!`]'s clause, in its order: the one place
    /// that order is written down for both statements that use it.
    fn bind(&self, query: SqliteQuery<'a>) -> SqliteQuery<'a> {
        query
            .bind(self.status)
            .bind(self.repo)
            .bind(self.git_ref)
            .bind(self.commit)
            .bind(self.profile)
            .bind(self.text)
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// The `WHERE` clause of a filtered list (a macro, so `concat!` makes each
/// statement one static string): a fixed text with the filter's
/// six values bound as `?1`…`?6`, never spliced in. `instr` and `substr`
/// rather than `LIKE`, so `%` and `_` in a value mean themselves.
macro_rules! filter {
    () => {
        "(?1 IS NULL OR status = ?1)
    AND (?2 IS NULL OR instr(view_json ->> '$.source.repo', ?2) > 0)
    AND (?3 IS NULL OR view_json ->> '$.source.ref' = ?3)
    AND (?4 IS NULL OR substr(view_json ->> '$.commit', 1, length(?4)) = ?4)
    AND (?5 IS NULL OR view_json ->> '$.profile' = ?5)
    AND (?6 IS NULL OR instr(lower(id), lower(?6)) > 0
                    OR instr(lower(view_json ->> '$.source.repo'), lower(?6)) > 0
                    OR instr(lower(view_json ->> '$.source.ref'), lower(?6)) > 0
                    OR instr(lower(coalesce(view_json ->> '$.commit', '')), lower(?6)) > 0)"
    };
}

#[derive(Clone)]
pub(crate) struct Views {
    pool: SqlitePool,
}

/// Counts for `/metrics`, from the view rows.
pub(crate) struct MetricsCounts {
    /// (status, queues)
    pub queues: Vec<(String, i64)>,
    /// (result, or status while unfinished; tasks)
    pub tasks: Vec<(String, i64)>,
}

impl Views {
    pub(crate) fn open_lazy(path: &Path) -> Self {
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

    pub(crate) async fn queue(&self, id: &str) -> Result<Option<QueueView>, ViewsError> {
        let row = sqlx::query("SELECT view_json FROM queues WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| parse_view(row.get::<&str, _>(0))).transpose()
    }

    /// One page of the queues `filter` selects, newest first, and how many
    /// it selects in total. Every value is a bound parameter.
    pub(crate) async fn list(
        &self,
        filter: &QueueFilter<'_>,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<QueueView>, u64), ViewsError> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        let rows = sqlx::query(concat!(
            "SELECT view_json FROM queues WHERE ",
            filter!(),
            " ORDER BY submitted_seq DESC LIMIT ?7 OFFSET ?8"
        ));
        let rows = filter
            .bind(rows)
            .bind(i64::from(per_page))
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let count = sqlx::query(concat!("SELECT COUNT(*) FROM queues WHERE ", filter!()));
        let total: i64 = filter.bind(count).fetch_one(&self.pool).await?.get(0);
        let queues = rows
            .iter()
            .map(|row| parse_view(row.get::<&str, _>(0)))
            .collect::<Result<_, _>>()?;
        Ok((queues, total as u64))
    }

    pub(crate) async fn metrics_counts(&self) -> Result<MetricsCounts, ViewsError> {
        let pairs = |rows: Vec<sqlx::sqlite::SqliteRow>| {
            rows.iter()
                .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
                .collect()
        };
        let queues = sqlx::query("SELECT status, COUNT(*) FROM queues GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        let tasks = sqlx::query(
            "SELECT COALESCE(json_extract(t.value, '$.result'), json_extract(t.value, '$.status')) AS r, COUNT(*)
             FROM queues q, json_each(q.view_json, '$.tasks') t GROUP BY r",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(MetricsCounts {
            queues: pairs(queues),
            tasks: pairs(tasks),
        })
    }

    /// The firmware sizes of `repo` (and `profile`, when given), one per
    /// commit (its latest measure), newest first, at most `limit`.
    pub(crate) async fn sizes(
        &self,
        repo: &str,
        profile: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SizeEntry>, ViewsError> {
        let rows = sqlx::query(
            "SELECT commit_sha, queue_id, profile, measured_at, text, data, bss
               FROM firmware_sizes f
              WHERE repo = ?1 AND (?2 IS NULL OR profile = ?2)
                AND seq = (SELECT max(seq) FROM firmware_sizes g
                            WHERE g.repo = f.repo AND g.profile = f.profile
                              AND g.commit_sha IS f.commit_sha)
              ORDER BY seq DESC LIMIT ?3",
        )
        .bind(repo)
        .bind(profile)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
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
            })
            .collect())
    }

    /// The events-stream sequence the projector has committed.
    pub(crate) async fn applied_events(&self) -> Result<u64, ViewsError> {
        let row = sqlx::query("SELECT seq FROM projector_offsets WHERE stream = 'events'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64).unwrap_or(0))
    }
}

fn parse_view(json: &str) -> Result<QueueView, ViewsError> {
    Ok(serde_json::from_str(json)?)
}
