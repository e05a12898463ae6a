//! The test list (`GET /api/tests`, default window): one page of the tests
//! a filter selects, in key order (repo, profile, task, case), and how many
//! it selects, exact up to [`COUNT_CAP`]. No statement scans `tests`: each
//! walks the index the pure [`TestIndex::for_filter`] names (`INDEXED BY`)
//! from the page's cursor (the key of the previous page's last test) and
//! stops after the page or the cap; a `q` of 3 characters or more goes
//! through the trigram index. The indexes are
//! `migrations/0012_test_list_indexes.sql`.
//!
//! The state hangs on the gateway's `--flaky-flip-rate`, which the stored
//! `settled_state` cannot know: `flaky` and `passing` are each two ranges
//! ([`parts`]), the settled one and the `flips` tests on their side of the
//! rate, read apart and merged by key.

use sqlx::{QueryBuilder, Row, Sqlite};
use testarena_events::{TestKey, TestState, WindowFigures};

use crate::queue_list::COUNT_CAP;
use crate::views::{stored_test, StoredTest, TestFilter, Views, ViewsError};

/// Substrings shorter than this cannot use the trigram index; they are
/// checked on the rows of the walk instead.
const TRIGRAM: usize = 3;

/// The part of a test's state that does not depend on the flip rate (the
/// `settled_state` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Failing,
    Flaky,
    New,
    Passing,
}

impl Settled {
    fn as_str(self) -> &'static str {
        match self {
            Self::Failing => "failing",
            Self::Flaky => "flaky",
            Self::New => "new",
            Self::Passing => "passing",
        }
    }
}

/// One statement's share of a state filter.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    /// No state filter.
    All,
    Settled(Settled),
    /// `flips` tests whose flip rate is at or above the rate: `flaky`.
    FlipsAtOrAbove(f64),
    /// `flips` tests whose flip rate is below the rate: `passing`.
    FlipsBelow(f64),
}

impl Part {
    fn has_state(self) -> bool {
        self != Self::All
    }
}

/// The statements a state filter reads (their rows are disjoint).
fn parts(state: Option<TestState>, flaky_flip_rate: f64) -> Vec<Part> {
    match state {
        None => vec![Part::All],
        Some(TestState::Failing) => vec![Part::Settled(Settled::Failing)],
        Some(TestState::New) => vec![Part::Settled(Settled::New)],
        Some(TestState::Flaky) => vec![
            Part::Settled(Settled::Flaky),
            Part::FlipsAtOrAbove(flaky_flip_rate),
        ],
        Some(TestState::Passing) => vec![
            Part::Settled(Settled::Passing),
            Part::FlipsBelow(flaky_flip_rate),
        ],
    }
}

/// The index a list statement walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestIndex {
    /// The trigram index gives the matching tests; they are read by id.
    Text,
    /// The key itself (repo, profile, task, case): `tests`' UNIQUE index.
    Key,
    Profile,
    State,
    StateProfile,
}

impl TestIndex {
    /// A substring (via the trigram index) selects few tests; otherwise the
    /// index whose leading columns the filter fixes, in key order after them.
    fn for_filter(filter: &TestFilter<'_>, part: Part) -> Self {
        let by_profile = filter.profile.is_some() && filter.repo.is_none();
        if filter.text.is_some_and(|t| t.chars().count() >= TRIGRAM) {
            Self::Text
        } else if part.has_state() {
            if by_profile {
                Self::StateProfile
            } else {
                Self::State
            }
        } else if by_profile {
            Self::Profile
        } else {
            Self::Key
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Text => "test_text",
            Self::Key => "sqlite_autoindex_tests_1",
            Self::Profile => "tests_by_profile",
            Self::State => "tests_by_state",
            Self::StateProfile => "tests_by_state_profile",
        }
    }

    /// The key's columns in this index's order, after the leading ones the
    /// filter fixes: the page's order and its cursor's comparison.
    fn rest_of_key(self, filter: &TestFilter<'_>) -> Vec<&'static str> {
        let order = match self {
            Self::Profile | Self::StateProfile => ["profile", "repo", "task", "case_name"],
            Self::Text | Self::Key | Self::State => ["repo", "profile", "task", "case_name"],
        };
        let fixed = |column: &&str| match *column {
            "repo" => filter.repo.is_some(),
            "profile" => filter.profile.is_some(),
            _ => false,
        };
        order.into_iter().skip_while(fixed).collect()
    }
}

/// A key's value for one of its column names.
fn key_value<'k>(key: &'k TestKey, column: &str) -> &'k str {
    match column {
        "repo" => key.repo(),
        "profile" => key.profile(),
        "task" => key.task(),
        _ => key.case(),
    }
}

/// `<select> FROM tests [INDEXED BY <index>] WHERE <filter and part>`, the
/// values bound, for both the page and the count.
fn select_where(select: &str, filter: &TestFilter<'_>, part: Part) -> QueryBuilder<Sqlite> {
    let index = TestIndex::for_filter(filter, part);
    let indexed_by = match index {
        // Only by id (the primary key still serves under NOT INDEXED).
        TestIndex::Text => " NOT INDEXED".to_owned(),
        other => format!(" INDEXED BY {}", other.name()),
    };
    let mut sql = QueryBuilder::new(format!("{select} FROM tests{indexed_by} WHERE true"));
    match part {
        Part::All => {}
        Part::Settled(settled) => {
            sql.push(" AND settled_state = ")
                .push_bind(settled.as_str());
        }
        Part::FlipsAtOrAbove(rate) => {
            sql.push(" AND settled_state = 'flips' AND flip_rate >= ")
                .push_bind(rate);
        }
        Part::FlipsBelow(rate) => {
            sql.push(" AND settled_state = 'flips' AND flip_rate < ")
                .push_bind(rate);
        }
    }
    if let Some(repo) = filter.repo {
        sql.push(" AND repo = ").push_bind(repo.to_owned());
    }
    if let Some(profile) = filter.profile {
        sql.push(" AND profile = ").push_bind(profile.to_owned());
    }
    if let Some(text) = filter.text {
        if index == TestIndex::Text {
            sql.push(" AND id IN (SELECT rowid FROM test_text WHERE test_text MATCH ")
                .push_bind(format!("\"{}\"", text.replace('"', "\"\"")))
                .push(")");
        }
        // The trigram index folds more than SQLite's `lower` (non-ASCII):
        // the list's own rule is checked on what it gives.
        let lower = text.to_lowercase();
        sql.push(" AND (instr(lower(task), ")
            .push_bind(lower.clone())
            .push(") > 0 OR instr(lower(case_name), ")
            .push_bind(lower)
            .push(") > 0)");
    }
    sql
}

/// The page statement: after `after`, in the index's key order, one row
/// more than the page. (`lead` is `""`, or `EXPLAIN QUERY PLAN ` in tests.)
fn page_statement(
    lead: &str,
    filter: &TestFilter<'_>,
    part: Part,
    after: Option<&TestKey>,
    per_page: u32,
) -> QueryBuilder<Sqlite> {
    let columns = TestIndex::for_filter(filter, part).rest_of_key(filter);
    let mut sql = select_where(
        &format!(
            "{lead}SELECT id, repo, profile, task, case_name, quarantined, quarantine_reason, \
             summary_json"
        ),
        filter,
        part,
    );
    if let Some(after) = after {
        sql.push(format!(" AND ({}) > (", columns.join(", ")));
        let mut values = sql.separated(", ");
        for column in &columns {
            values.push_bind(key_value(after, column).to_owned());
        }
        sql.push(")");
    }
    sql.push(format!(" ORDER BY {} LIMIT ", columns.join(", ")))
        .push_bind(i64::from(per_page) + 1);
    sql
}

/// The count statement: the part's rows, at most one past the cap.
fn count_statement(lead: &str, filter: &TestFilter<'_>, part: Part) -> QueryBuilder<Sqlite> {
    let mut sql = select_where(
        &format!("{lead}SELECT count(*) FROM (SELECT 1"),
        filter,
        part,
    );
    sql.push(" LIMIT ")
        .push_bind(COUNT_CAP as i64 + 1)
        .push(")");
    sql
}

/// One page of the test list.
#[derive(Debug)]
pub struct TestPage {
    /// In key order, each with its figures over the default window.
    pub tests: Vec<(StoredTest, WindowFigures)>,
    /// Tests the filter selects: exact when `total_capped` is false, else
    /// [`COUNT_CAP`], meaning at least that many.
    pub total: u64,
    pub total_capped: bool,
    /// The key of the page's last test when more follow.
    pub next_after: Option<TestKey>,
}

impl Views {
    /// One page of the tests `filter` and `state` (judged at
    /// `flaky_flip_rate`) select, after the test `after`, in key order.
    pub async fn test_page(
        &self,
        filter: &TestFilter<'_>,
        state: Option<TestState>,
        flaky_flip_rate: f64,
        after: Option<&TestKey>,
        per_page: u32,
    ) -> Result<TestPage, ViewsError> {
        let mut tests = Vec::new();
        let mut counted = 0;
        for part in parts(state, flaky_flip_rate) {
            let rows = page_statement("", filter, part, after, per_page)
                .build()
                .fetch_all(&self.pool)
                .await?;
            for row in &rows {
                let figures = match row.get::<Option<&str>, _>(7) {
                    Some(json) => serde_json::from_str(json)?,
                    None => WindowFigures::default(),
                };
                tests.push((stored_test(row), figures));
            }
            let part_count: i64 = count_statement("", filter, part)
                .build()
                .fetch_one(&self.pool)
                .await?
                .get(0);
            counted += part_count as u64;
        }
        tests.sort_by(|a: &(StoredTest, _), b| a.0.key.cmp(&b.0.key));
        let more = tests.len() > per_page as usize;
        tests.truncate(per_page as usize);
        let next_after = more
            .then(|| tests.last().map(|(test, _)| test.key.clone()))
            .flatten();
        Ok(TestPage {
            tests,
            total: counted.min(COUNT_CAP),
            total_capped: counted > COUNT_CAP,
            next_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query_plan::{query_plan, EXPLAIN};
    use sqlx::sqlite::SqlitePoolOptions;
    use testarena_events::TestSummary;

    async fn migrated() -> Views {
        Views::in_memory().await
    }

    /// Stores tests as the projector does: the row, then its figures.
    async fn store(views: &Views, tests: &[(TestKey, Option<WindowFigures>)]) {
        for (key, figures) in tests {
            sqlx::query(
                "INSERT INTO tests (repo, profile, task, case_name, summary_json)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(key.repo())
            .bind(key.profile())
            .bind(key.task())
            .bind(key.case())
            .bind(figures.as_ref().map(|f| serde_json::to_string(f).unwrap()))
            .execute(&views.pool)
            .await
            .unwrap();
        }
    }

    /// Every mix of the figures a state is decided from.
    fn every_figures() -> Vec<WindowFigures> {
        let mut all = Vec::new();
        for runs in 0..6 {
            for failing_streak in 0..5 {
                for flaky_runs in 0..2 {
                    for one_commit in [false, true] {
                        for flips in 0..4 {
                            for flip_rate in [0.0, 0.2, 0.25, 0.5] {
                                all.push(WindowFigures {
                                    runs,
                                    failing_streak,
                                    flaky_runs,
                                    pass_and_fail_on_one_commit: one_commit,
                                    flips,
                                    flip_rate,
                                    ..Default::default()
                                });
                            }
                        }
                    }
                }
            }
        }
        all
    }

    fn key(i: usize) -> TestKey {
        let repo = format!("/repo{}", i % 3);
        let profile = ["", "qemu"][i % 2];
        let case = if i.is_multiple_of(5) {
            "Suite.case"
        } else {
            ""
        };
        TestKey::trusted(&repo, profile, &format!("task-{i:05}"), case)
    }

    async fn with_every_figures() -> (Views, Vec<(TestKey, Option<WindowFigures>)>) {
        let views = migrated().await;
        let mut tests: Vec<_> = every_figures()
            .into_iter()
            .enumerate()
            .map(|(i, f)| (key(i), Some(f)))
            .collect();
        tests.push((key(tests.len()), None));
        store(&views, &tests).await;
        (views, tests)
    }

    fn filters() -> Vec<TestFilter<'static>> {
        let mut all = Vec::new();
        for repo in [None, Some("/repo1")] {
            for profile in [None, Some("qemu")] {
                for text in [None, Some("SK-0001"), Some("0"), Some("suite.")] {
                    all.push(TestFilter {
                        repo,
                        profile,
                        text,
                    });
                }
            }
        }
        all
    }

    const STATES: [Option<TestState>; 5] = [
        None,
        Some(TestState::Failing),
        Some(TestState::Flaky),
        Some(TestState::New),
        Some(TestState::Passing),
    ];

    /// Every page of a filter, walked by cursor, `per_page` at a time.
    async fn walk(
        views: &Views,
        filter: &TestFilter<'_>,
        state: Option<TestState>,
        rate: f64,
        per_page: u32,
    ) -> (Vec<TestKey>, u64) {
        let mut keys = Vec::new();
        let mut after = None;
        loop {
            let page = views
                .test_page(filter, state, rate, after.as_ref(), per_page)
                .await
                .unwrap();
            assert!(page.tests.len() <= per_page as usize);
            keys.extend(page.tests.into_iter().map(|(t, _)| t.key));
            match page.next_after {
                Some(next) => after = Some(next),
                None => return (keys, page.total),
            }
        }
    }

    #[tokio::test]
    async fn every_filter_selects_what_the_state_rule_says_page_after_page() {
        let (views, tests) = with_every_figures().await;
        for rate in [0.2, 0.3] {
            for filter in filters() {
                for state in STATES {
                    let (listed, total) = walk(&views, &filter, state, rate, 97).await;
                    let mut expected: Vec<TestKey> = tests
                        .iter()
                        .filter(|(key, figures)| {
                            let summary = TestSummary::of(
                                key,
                                None,
                                figures.clone().unwrap_or_default(),
                                rate,
                            );
                            let text = filter.text.map(str::to_lowercase);
                            filter.repo.is_none_or(|r| key.repo() == r)
                                && filter.profile.is_none_or(|p| key.profile() == p)
                                && text.is_none_or(|t| {
                                    key.task().to_lowercase().contains(&t)
                                        || key.case().to_lowercase().contains(&t)
                                })
                                && state.is_none_or(|s| summary.state == s)
                        })
                        .map(|(key, _)| key.clone())
                        .collect();
                    expected.sort();
                    let what = format!("{filter:?} {state:?} at {rate}");
                    assert_eq!(listed, expected, "{what}");
                    assert_eq!(total, expected.len() as u64, "{what}");
                }
            }
        }
    }

    #[tokio::test]
    async fn no_list_statement_scans_the_tests_table() {
        let (views, _) = with_every_figures().await;
        let after = key(700);
        for filter in filters() {
            for state in STATES {
                for part in parts(state, 0.2) {
                    let index = TestIndex::for_filter(&filter, part);
                    let name = index.name();
                    // The unfiltered list walks the key's index from the
                    // top (or its cursor), as far as the page or the cap.
                    let walks = |l: &String| {
                        index == TestIndex::Key
                            && l.starts_with("SCAN tests USING ")
                            && l.ends_with(&format!("INDEX {name}"))
                    };
                    for start in [None, Some(&after)] {
                        for lines in [
                            query_plan(&views, page_statement(EXPLAIN, &filter, part, start, 50))
                                .await,
                            query_plan(&views, count_statement(EXPLAIN, &filter, part)).await,
                        ] {
                            let what = format!("{filter:?} {part:?} from {start:?}: {lines:?}");
                            assert!(
                                lines
                                    .iter()
                                    .all(|l| !l.starts_with("SCAN tests") || walks(l)),
                                "a scan of tests: {what}"
                            );
                            let searched = match index {
                                TestIndex::Text => "INTEGER PRIMARY KEY (rowid=?)".to_owned(),
                                _ => format!("INDEX {name} ("),
                            };
                            let search = |l: &String| {
                                l.starts_with("SEARCH tests USING ") && l.contains(&searched)
                            };
                            assert!(
                                lines.iter().any(|l| search(l) || walks(l)),
                                "not a search of {name}: {what}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn pages_without_a_substring_read_in_index_order_without_sorting() {
        let (views, _) = with_every_figures().await;
        let after = key(700);
        for filter in filters().into_iter().filter(|f| f.text.is_none()) {
            for state in STATES {
                for part in parts(state, 0.2) {
                    let lines = query_plan(
                        &views,
                        page_statement(EXPLAIN, &filter, part, Some(&after), 50),
                    )
                    .await;
                    assert!(
                        lines.iter().all(|l| !l.contains("TEMP B-TREE")),
                        "{filter:?} {part:?} sorts: {lines:?}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn tests_stored_before_the_migration_are_listed_by_state_and_text_after_it() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let all = sqlx::migrate!("../../migrations");
        let mut before = sqlx::migrate!("../../migrations");
        before.migrations = all
            .migrations
            .iter()
            .filter(|m| m.version < 12)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        before.run(&pool).await.unwrap();
        let views = Views { pool };
        let failing = WindowFigures {
            runs: 3,
            failing_streak: 3,
            ..Default::default()
        };
        let flips = WindowFigures {
            runs: 10,
            flips: 2,
            flip_rate: 2.0 / 9.0,
            ..Default::default()
        };
        let keys = [key(1), key(2), key(3)];
        store(
            &views,
            &[
                (keys[0].clone(), Some(failing)),
                (keys[1].clone(), Some(flips)),
                (keys[2].clone(), None),
            ],
        )
        .await;
        all.run(&views.pool).await.unwrap();
        let listed = |state, text| {
            let views = views.clone();
            async move {
                let filter = TestFilter {
                    text,
                    ..Default::default()
                };
                let page = views.test_page(&filter, state, 0.2, None, 50).await;
                let page = page.unwrap();
                page.tests
                    .into_iter()
                    .map(|(t, _)| t.key)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(listed(Some(TestState::Failing), None).await, [key(1)]);
        assert_eq!(listed(Some(TestState::Flaky), None).await, [key(2)]);
        assert_eq!(listed(Some(TestState::New), None).await, [key(3)]);
        assert_eq!(listed(None, Some("TASK-00003")).await, [key(3)]);
    }

    #[tokio::test]
    async fn the_total_is_exact_up_to_the_cap_and_at_least_the_cap_beyond() {
        let views = migrated().await;
        let tests: Vec<_> = (0..10_050).map(|i| (key(i), None)).collect();
        store(&views, &tests).await;
        let all = TestFilter::default();
        let page = views.test_page(&all, None, 0.2, None, 50).await.unwrap();
        assert_eq!((page.total, page.total_capped), (COUNT_CAP, true));
        assert_eq!(page.tests.len(), 50);
        let repo = TestFilter {
            repo: Some("/repo1"),
            ..Default::default()
        };
        let page = views.test_page(&repo, Some(TestState::New), 0.2, None, 50);
        let page = page.await.unwrap();
        assert_eq!((page.total, page.total_capped), (3350, false));
    }
}
