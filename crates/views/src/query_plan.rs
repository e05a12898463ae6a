//! For the tests of the list reads: the steps of SQLite's plan of a
//! statement, so a test can fail when a list would scan its table.

use sqlx::{QueryBuilder, Row, Sqlite};

use crate::views::Views;

/// The lead that turns a list statement into its plan.
pub(crate) const EXPLAIN: &str = "EXPLAIN QUERY PLAN ";

/// The `detail` of each step of the plan of `statement` (built with
/// [`EXPLAIN`] as its lead).
pub(crate) async fn query_plan(views: &Views, mut statement: QueryBuilder<Sqlite>) -> Vec<String> {
    statement
        .build()
        .fetch_all(&views.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(3))
        .collect()
}
