//! The queue list (`GET /api/queues`): one page of the queues a filter
//! selects, newest first, and how many it selects, exact up to
//! [`COUNT_CAP`]. Neither statement scans `queues`: each walks the index the
//! pure [`ListIndex::for_filter`] names (`INDEXED BY`, so a statement that
//! could not use it fails instead of quietly scanning) and stops after the
//! page or the cap. A page starts after a key (`submitted_seq`, one per
//! queue) or, for older clients, at an offset. The indexes are
//! `migrations/0011_queue_list_indexes.sql`.
//!
//! The statement is put together from fixed fragments, one per filter that
//! is set (SQLite plans `?1 IS NULL OR col = ?1` as a scan); every value is
//! bound, never spliced in.

use sqlx::{QueryBuilder, Row, Sqlite};
use testarena_events::{BisectSteps, QueueView};

use crate::views::{parse_view, Views, ViewsError};

/// `total` is exact up to here; past it the list says "at least this many".
pub const COUNT_CAP: u64 = 10_000;

/// Substring filters shorter than this cannot use the trigram index; they
/// are checked on the rows of the walk instead (they match nearly every
/// queue, so a page fills early).
const TRIGRAM: usize = 3;

/// Which queues a list shows; `None` matches everything.
#[derive(Debug, Default)]
pub struct QueueFilter<'a> {
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
    /// Bisect step queues left out (the default), listed too, or alone.
    pub bisect_steps: BisectSteps,
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    /// After the queue of this `submitted_seq` (a cursor): a seek in the index.
    After(u64),
    /// The n-th page from 1: an offset, walked in the index (older clients).
    Number(u32),
}

/// One page of the list.
#[derive(Debug)]
pub struct ListedPage {
    pub queues: Vec<QueueView>,
    /// Queues the filter selects: exact when `total_capped` is false, else
    /// [`COUNT_CAP`], meaning at least that many.
    pub total: u64,
    pub total_capped: bool,
    /// The `submitted_seq` of the page's last queue when more follow.
    pub next_after: Option<u64>,
}

/// The index a list statement walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListIndex {
    /// The trigram index gives the matching queues; they are read by key.
    Text,
    /// A range of commits.
    Commit,
    Ref,
    Profile,
    /// Status, steps left out or alone.
    StatusListed,
    /// Status, steps included.
    Status,
    /// No filter, steps left out or alone.
    Listed,
    /// No filter at all.
    Newest,
}

impl ListIndex {
    /// The most selective filter's index: a substring (via the trigram
    /// index) selects few queues, a commit few, a ref or a profile some, a
    /// status many. The other filters are checked on the rows it gives.
    pub(crate) fn for_filter(filter: &QueueFilter<'_>) -> Self {
        let indexed_text = |t: Option<&str>| t.is_some_and(|t| t.chars().count() >= TRIGRAM);
        let steps_apart = filter.bisect_steps != BisectSteps::Include;
        if indexed_text(filter.text) || indexed_text(filter.repo) {
            Self::Text
        } else if filter.commit.is_some() {
            Self::Commit
        } else if filter.git_ref.is_some() {
            Self::Ref
        } else if filter.profile.is_some() {
            Self::Profile
        } else if filter.status.is_some() {
            if steps_apart {
                Self::StatusListed
            } else {
                Self::Status
            }
        } else if steps_apart {
            Self::Listed
        } else {
            Self::Newest
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Text | Self::Newest => "queues_by_seq",
            Self::Commit => "queues_by_commit",
            Self::Ref => "queues_by_ref",
            Self::Profile => "queues_by_profile",
            Self::StatusListed => "queues_listed_by_status",
            Self::Status => "queues_by_status",
            Self::Listed => "queues_listed",
        }
    }
}

/// A trigram phrase query for `text`: the whole text as one phrase (so it
/// matches as a substring), its quotes doubled.
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// `<select> FROM queues INDEXED BY <index> WHERE <filter>`, the filter's
/// values bound, for both the page and the count.
fn select_where(select: &str, filter: &QueueFilter<'_>) -> QueryBuilder<Sqlite> {
    let index = ListIndex::for_filter(filter);
    let mut sql = QueryBuilder::new(format!(
        "{select} FROM queues INDEXED BY {} WHERE true",
        index.name()
    ));
    match filter.bisect_steps {
        BisectSteps::Exclude => sql.push(" AND is_step = 0"),
        BisectSteps::Only => sql.push(" AND is_step = 1"),
        BisectSteps::Include => &mut sql,
    };
    if let Some(status) = filter.status {
        sql.push(" AND status = ").push_bind(status.to_owned());
    }
    if let Some(git_ref) = filter.git_ref {
        sql.push(" AND git_ref = ").push_bind(git_ref.to_owned());
    }
    if let Some(profile) = filter.profile {
        sql.push(" AND profile = ").push_bind(profile.to_owned());
    }
    if let Some(commit) = filter.commit {
        // A range of the index (hex sorts below U+10FFFF), then the exact prefix.
        sql.push(" AND commit_sha >= ")
            .push_bind(commit.to_owned())
            .push(" AND commit_sha < ")
            .push_bind(format!("{commit}\u{10FFFF}"))
            .push(" AND substr(commit_sha, 1, length(")
            .push_bind(commit.to_owned())
            .push(")) = ")
            .push_bind(commit.to_owned());
    }
    push_text_filters(&mut sql, filter);
    sql
}

/// `repo` (a substring, case as given) and `q` (a substring in any case of
/// the id, repo, ref or commit): through the trigram index when long enough.
fn push_text_filters(sql: &mut QueryBuilder<Sqlite>, filter: &QueueFilter<'_>) {
    if let Some(repo) = filter.repo {
        if repo.chars().count() >= TRIGRAM {
            sql.push(" AND submitted_seq IN (SELECT rowid FROM queue_text WHERE queue_text MATCH ")
                .push_bind(format!("repo : {}", phrase(repo)))
                .push(")");
        }
        // The trigram index ignores case; the filter does not.
        sql.push(" AND instr(repo, ")
            .push_bind(repo.to_owned())
            .push(") > 0");
    }
    if let Some(text) = filter.text {
        if text.chars().count() >= TRIGRAM {
            sql.push(" AND submitted_seq IN (SELECT rowid FROM queue_text WHERE queue_text MATCH ")
                .push_bind(phrase(text))
                .push(")");
        } else {
            let lower = text.to_lowercase();
            sql.push(" AND (instr(lower(id), ")
                .push_bind(lower.clone())
                .push(") > 0 OR instr(lower(repo), ")
                .push_bind(lower.clone())
                .push(") > 0 OR instr(lower(git_ref), ")
                .push_bind(lower.clone())
                .push(") > 0 OR instr(lower(coalesce(commit_sha, '')), ")
                .push_bind(lower)
                .push(") > 0)");
        }
    }
}

/// The page statement: the filter, the start, newest first, one row more
/// than the page to know whether another follows. (`lead` is `""`, or
/// `EXPLAIN QUERY PLAN ` in the tests.)
fn page_statement(
    lead: &str,
    filter: &QueueFilter<'_>,
    start: PageStart,
    per_page: u32,
) -> QueryBuilder<Sqlite> {
    let mut sql = select_where(&format!("{lead}SELECT submitted_seq, view_json"), filter);
    if let PageStart::After(seq) = start {
        sql.push(" AND submitted_seq < ").push_bind(seq as i64);
    }
    sql.push(" ORDER BY submitted_seq DESC LIMIT ")
        .push_bind(i64::from(per_page) + 1);
    if let PageStart::Number(page) = start {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        sql.push(" OFFSET ").push_bind(offset);
    }
    sql
}

/// The count statement: the filter's rows, at most one past the cap.
fn count_statement(lead: &str, filter: &QueueFilter<'_>) -> QueryBuilder<Sqlite> {
    let mut sql = select_where(&format!("{lead}SELECT count(*) FROM (SELECT 1"), filter);
    sql.push(" LIMIT ")
        .push_bind(COUNT_CAP as i64 + 1)
        .push(")");
    sql
}

impl Views {
    /// One page of the queues `filter` selects, newest first, and how many
    /// it selects (exact up to [`COUNT_CAP`]).
    pub async fn list(
        &self,
        filter: &QueueFilter<'_>,
        start: PageStart,
        per_page: u32,
    ) -> Result<ListedPage, ViewsError> {
        let rows = page_statement("", filter, start, per_page)
            .build()
            .fetch_all(&self.pool)
            .await?;
        let counted: i64 = count_statement("", filter)
            .build()
            .fetch_one(&self.pool)
            .await?
            .get(0);
        let counted = counted as u64;
        let more = rows.len() > per_page as usize;
        let rows = &rows[..rows.len().min(per_page as usize)];
        let next_after = more
            .then(|| rows.last().map(|row| row.get::<i64, _>(0) as u64))
            .flatten();
        let queues = rows
            .iter()
            .map(|row| parse_view(row.get::<&str, _>(1)))
            .collect::<Result<_, _>>()?;
        Ok(ListedPage {
            queues,
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

    /// The view database as the projector migrates it, in memory, with
    /// `n` queues: seq i is `q-<i>`, `Error` when i % 10 == 0, ref `main`
    /// when even, profile `esp` when i % 4 == 0, repo `.../Fw<i % 3>.git`,
    /// commit `<i in 40 hex digits>`, a bisect step when i % 7 == 0.
    async fn views_with(n: u32) -> Views {
        let views = Views::in_memory().await;
        let template = serde_json::json!({
            "id": "", "status": "Finished", "source": {"repo": "", "ref": ""},
            "attempt": 1, "submitted_at": "2026-01-01T00:00:00Z", "cancel_requested": false,
            "counts": {"total": 0, "waiting": 0, "running": 0, "pass": 0, "fail": 0,
                       "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
            "stages": [], "tasks": [],
        });
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
             INSERT INTO queues (id, submitted_seq, status, submitted_at, updated_seq, view_json)
             SELECT 'q-' || i, i, CASE WHEN i % 10 = 0 THEN 'Error' ELSE 'Finished' END, '', i,
                    json_set(?1, '$.id', 'q-' || i,
                        '$.status', CASE WHEN i % 10 = 0 THEN 'Error' ELSE 'Finished' END,
                        '$.source.repo', 'https://git.example/Fw' || (i % 3) || '.git',
                        '$.source.ref', CASE WHEN i % 2 = 0 THEN 'main' ELSE 'dev' END,
                        '$.commit', printf('%040x', i),
                        '$.profile', CASE WHEN i % 4 = 0 THEN 'esp' END,
                        '$.bisect', CASE WHEN i % 7 = 0 THEN 'b-1' END)
               FROM n",
        )
        .bind(template.to_string())
        .bind(i64::from(n))
        .execute(&views.pool)
        .await
        .unwrap();
        views
    }

    fn ids(page: &ListedPage) -> Vec<String> {
        page.queues.iter().map(|q| q.id.clone()).collect()
    }

    /// Every filter alone, and each with the other bisect choices.
    fn filters() -> Vec<QueueFilter<'static>> {
        let one = [
            QueueFilter::default(),
            QueueFilter {
                status: Some("Error"),
                ..Default::default()
            },
            QueueFilter {
                repo: Some("Fw1.git"),
                ..Default::default()
            },
            QueueFilter {
                repo: Some("Fw"),
                ..Default::default()
            },
            QueueFilter {
                git_ref: Some("main"),
                ..Default::default()
            },
            QueueFilter {
                commit: Some("00000000000000000000000000000000000001"),
                ..Default::default()
            },
            QueueFilter {
                profile: Some("esp"),
                ..Default::default()
            },
            QueueFilter {
                text: Some("Q-12"),
                ..Default::default()
            },
            QueueFilter {
                status: Some("Error"),
                git_ref: Some("main"),
                profile: Some("esp"),
                ..Default::default()
            },
        ];
        let mut all = Vec::new();
        for filter in one {
            for steps in [
                BisectSteps::Exclude,
                BisectSteps::Include,
                BisectSteps::Only,
            ] {
                all.push(QueueFilter {
                    bisect_steps: steps,
                    ..filter
                });
            }
        }
        all
    }

    #[tokio::test]
    async fn no_list_statement_scans_the_queues_table() {
        let views = views_with(50).await;
        for filter in filters() {
            for start in [PageStart::Number(3), PageStart::After(20)] {
                let index = ListIndex::for_filter(&filter);
                // Only the unfiltered list has no key to search by: it walks
                // the newest-first index from the top, as far as the page.
                let walks = |l: &String| {
                    index == ListIndex::Newest
                        && l.starts_with("SCAN queues USING ")
                        && l.ends_with(&format!("INDEX {}", index.name()))
                };
                for lines in [
                    query_plan(&views, page_statement(EXPLAIN, &filter, start, 50)).await,
                    query_plan(&views, count_statement(EXPLAIN, &filter)).await,
                ] {
                    let what = format!("{filter:?} from {start:?}: {lines:?}");
                    let name = index.name();
                    assert!(
                        lines
                            .iter()
                            .all(|l| !l.starts_with("SCAN queues") || walks(l)),
                        "a scan of queues: {what}"
                    );
                    assert!(
                        lines.iter().any(|l| l.starts_with("SEARCH queues USING")
                            && l.contains(&format!("INDEX {name} "))
                            || walks(l)),
                        "not a search of {name}: {what}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn the_common_pages_read_in_index_order_without_sorting() {
        let views = views_with(50).await;
        for filter in [
            QueueFilter::default(),
            QueueFilter {
                status: Some("Error"),
                ..Default::default()
            },
            QueueFilter {
                git_ref: Some("main"),
                ..Default::default()
            },
            QueueFilter {
                profile: Some("esp"),
                ..Default::default()
            },
        ] {
            let lines = query_plan(
                &views,
                page_statement(EXPLAIN, &filter, PageStart::After(9), 50),
            )
            .await;
            assert!(
                lines.iter().all(|l| !l.contains("TEMP B-TREE")),
                "{filter:?} sorts: {lines:?}"
            );
        }
    }

    #[tokio::test]
    async fn cursor_pages_follow_each_other_to_the_end_newest_first() {
        let views = views_with(30).await;
        let filter = QueueFilter {
            git_ref: Some("main"),
            ..Default::default()
        };
        // Even seqs, not multiples of 7: 30 28 26 24 22 20 18 16 12 10 8 6 4 2.
        let first = views.list(&filter, PageStart::Number(1), 6).await.unwrap();
        assert_eq!(
            ids(&first),
            ["q-30", "q-26", "q-24", "q-22", "q-20", "q-18"]
        );
        assert_eq!((first.total, first.total_capped), (13, false));
        let second = views
            .list(&filter, PageStart::After(first.next_after.unwrap()), 6)
            .await
            .unwrap();
        assert_eq!(ids(&second), ["q-16", "q-12", "q-10", "q-8", "q-6", "q-4"]);
        let by_number = views.list(&filter, PageStart::Number(2), 6).await.unwrap();
        assert_eq!(
            ids(&by_number),
            ids(&second),
            "a page number reads the same page"
        );
        let last = views
            .list(&filter, PageStart::After(second.next_after.unwrap()), 6)
            .await
            .unwrap();
        assert_eq!(ids(&last), ["q-2"]);
        assert_eq!(last.next_after, None, "nothing after the last page");
    }

    #[tokio::test]
    async fn each_filter_selects_what_it_says() {
        let views = views_with(60).await;
        let all = |filter: QueueFilter<'static>| {
            let views = views.clone();
            async move {
                ids(&views
                    .list(&filter, PageStart::Number(1), 200)
                    .await
                    .unwrap())
            }
        };
        let repo = all(QueueFilter {
            repo: Some("Fw1.git"),
            status: Some("Error"),
            ..Default::default()
        })
        .await;
        assert_eq!(repo, ["q-40", "q-10"]);
        let wrong_case = all(QueueFilter {
            repo: Some("fw1.git"),
            ..Default::default()
        })
        .await;
        assert!(wrong_case.is_empty(), "repo keeps its case: {wrong_case:?}");
        let text = all(QueueFilter {
            text: Some("Q-5"),
            ..Default::default()
        })
        .await;
        // q-56 is a bisect step.
        assert_eq!(
            text,
            ["q-59", "q-58", "q-57", "q-55", "q-54", "q-53", "q-52", "q-51", "q-50", "q-5"]
        );
        let short = all(QueueFilter {
            text: Some("Q-"),
            ..Default::default()
        })
        .await;
        assert_eq!(
            short.len(),
            60 - 8,
            "a short text matches without the trigram index"
        );
        let quote = all(QueueFilter {
            text: Some("q\"-5"),
            ..Default::default()
        })
        .await;
        assert!(
            quote.is_empty(),
            "a quote is a character, not syntax: {quote:?}"
        );
        let commit = all(QueueFilter {
            // Seqs 0x30 to 0x3f.
            commit: Some("000000000000000000000000000000000000003"),
            ..Default::default()
        })
        .await;
        assert_eq!(
            commit,
            [
                "q-60", "q-59", "q-58", "q-57", "q-55", "q-54", "q-53", "q-52", "q-51", "q-50",
                "q-48"
            ]
        );
        let only = all(QueueFilter {
            bisect_steps: BisectSteps::Only,
            profile: Some("esp"),
            ..Default::default()
        })
        .await;
        assert_eq!(only, ["q-56", "q-28"]);
        let include = all(QueueFilter {
            bisect_steps: BisectSteps::Include,
            ..Default::default()
        })
        .await;
        assert_eq!(include.len(), 60);
    }

    #[tokio::test]
    async fn the_total_is_exact_up_to_the_cap_and_at_least_the_cap_beyond() {
        let views = views_with(12_000).await;
        let below = QueueFilter {
            status: Some("Error"),
            ..Default::default()
        };
        let page = views.list(&below, PageStart::Number(1), 50).await.unwrap();
        // Multiples of 10 that are not multiples of 70: 1200 - 171.
        assert_eq!((page.total, page.total_capped), (1029, false));
        let page = views
            .list(&QueueFilter::default(), PageStart::Number(1), 50)
            .await
            .unwrap();
        assert_eq!((page.total, page.total_capped), (COUNT_CAP, true));
    }

    #[tokio::test]
    async fn the_text_index_follows_updates_and_deletes_of_queues() {
        let views = views_with(3).await;
        let find = |text: &'static str| {
            let views = views.clone();
            async move {
                let filter = QueueFilter {
                    text: Some(text),
                    ..Default::default()
                };
                ids(&views.list(&filter, PageStart::Number(1), 50).await.unwrap())
            }
        };
        assert_eq!(find("0000000002").await, ["q-2"]);
        // As the projector's upsert writes a view whose commit changed.
        sqlx::query(
            "INSERT INTO queues (id, submitted_seq, status, submitted_at, updated_seq, view_json)
             SELECT id, submitted_seq, status, submitted_at, 9,
                    json_set(view_json, '$.commit', 'abcdef12') FROM queues WHERE id = 'q-2'
             ON CONFLICT (id) DO UPDATE SET updated_seq = excluded.updated_seq,
                view_json = excluded.view_json",
        )
        .execute(&views.pool)
        .await
        .unwrap();
        assert!(
            find("0000000002").await.is_empty(),
            "the old commit is gone"
        );
        assert_eq!(find("CDEF1").await, ["q-2"]);
        sqlx::query("DELETE FROM queues WHERE id = 'q-2'")
            .execute(&views.pool)
            .await
            .unwrap();
        assert!(find("CDEF1").await.is_empty(), "a deleted queue is gone");
        assert_eq!(find("q-3").await, ["q-3"]);
    }
}
