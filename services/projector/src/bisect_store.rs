//! The `bisects` table (`migrations/0005_bisects.sql`): load the bisects a
//! batch names, write what `bisect_projection::fold_batch` decided, in the
//! batch's transaction.

use std::collections::HashMap;

use anyhow::Context as _;
use sqlx::{Row, SqliteConnection};

use crate::bisect_projection::{BisectWrite, StoredBisect};

pub(crate) async fn load(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> anyhow::Result<HashMap<String, StoredBisect>> {
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let rows = sqlx::query(
        "SELECT id, view_json, requested_seq FROM bisects
           WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(serde_json::to_string(ids)?)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let id: String = row.get(0);
        let view = serde_json::from_str(row.get::<&str, _>(1))
            .with_context(|| format!("reading stored view of bisect {id}"))?;
        let requested_seq = row.get::<i64, _>(2) as u64;
        out.insert(
            id,
            StoredBisect {
                view,
                requested_seq,
            },
        );
    }
    Ok(out)
}

pub(crate) async fn save(
    conn: &mut SqliteConnection,
    writes: &[(String, BisectWrite)],
) -> anyhow::Result<()> {
    for (id, write) in writes {
        match write {
            BisectWrite::Delete => {
                sqlx::query("DELETE FROM bisects WHERE id = ?")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            BisectWrite::Save {
                view,
                requested_seq,
                updated_seq,
            } => {
                sqlx::query(
                    "INSERT INTO bisects (id, requested_seq, status, updated_seq, view_json)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (id) DO UPDATE SET
                        status = excluded.status, updated_seq = excluded.updated_seq,
                        view_json = excluded.view_json",
                )
                .bind(id)
                .bind(*requested_seq as i64)
                .bind(&view.status)
                .bind(*updated_seq as i64)
                .bind(serde_json::to_string(view)?)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(())
}
