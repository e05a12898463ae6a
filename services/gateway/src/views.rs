//! Read side of the SQLite views the projector writes: every SQL statement
//! of the gateway is here. The database is opened read-only and lazily: the
//! gateway may start before the projector has created the file, and answers
//! 503 until then. Errors are this module's own (`ViewsError`); the HTTP
//! edge maps them to `ApiError`.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use testarena_events::QueueView;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ViewsError {
    #[error("view database: {0}")]
    Unavailable(#[from] sqlx::Error),
    #[error("a stored queue view does not parse: {0}")]
    Corrupt(#[from] serde_json::Error),
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

    /// One page of queues, newest first, and how many match in total.
    pub(crate) async fn list(
        &self,
        status: Option<&str>,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<QueueView>, u64), ViewsError> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        let rows = sqlx::query(
            "SELECT view_json FROM queues WHERE (?1 IS NULL OR status = ?1)
             ORDER BY submitted_seq DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(status)
        .bind(i64::from(per_page))
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 =
            sqlx::query("SELECT COUNT(*) FROM queues WHERE (?1 IS NULL OR status = ?1)")
                .bind(status)
                .fetch_one(&self.pool)
                .await?
                .get(0);
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
