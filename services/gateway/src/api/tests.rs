//! `/api/tests`: test history (the list with each test's state over a
//! window of runs, one test's runs) and quarantine. Reads come from the
//! projector's `tests` (each test's figures over the default window) and
//! `test_runs` (another window, one test's history); the state is decided
//! here, per request, by the pure `WindowFigures::state` with the gateway's
//! `--flaky-flip-rate` (the default window's list filters by state in SQL:
//! `testarena_views::TestPage`). A quarantine is
//! an event on `<prefix>.tests.<kind>`, like every other change of state.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, ApiResponse, OpenApi};
use testarena_events::{
    failure_groups, window_figures, TestEvent, TestEventBody, TestKey, TestState, TestSummary,
    MAX_REASON,
};

use super::auth::default_owner;
use super::error::ApiError;
use super::model::{
    QuarantineRequest, TestEventAccepted, TestHistoryPage, TestList, UnquarantineRequest,
};
use super::serde_json_body::SerdeJson;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::state::AppState;
use crate::test_cursor::{self, TestCursor};
use testarena_views::{TestFilter, COUNT_CAP};

const DEFAULT_HISTORY_LIMIT: u32 = 200;
/// A list without `limit` is one page of at most this many.
const MAX_TESTS_PER_PAGE: u32 = 10_000;

#[derive(ApiResponse)]
pub(crate) enum QuarantineResponse {
    /// Stored and applied: the test as it is now.
    #[oai(status = 200)]
    Ok(Json<Box<TestSummary>>),
    /// Stored in the event stream, but the view did not catch up in time.
    #[oai(status = 202)]
    Accepted(Json<TestEventAccepted>),
}

pub(crate) struct TestsApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Tests")]
impl TestsApi {
    /// Tests with their state over their last runs
    ///
    /// A test is a (repo, profile, task, JUnit case or none). Each is
    /// summarized over its last `window` runs, runs of bisect step queues
    /// left out: `failing` (its last 3 runs ended `FAIL`, `TIMEOUT` or
    /// `ERROR`), `flaky` (a run ended `FLAKY`, it passed and failed on one
    /// commit, or from 3 runs on it changed result at least twice at a flip
    /// rate at or above the gateway's `--flaky-flip-rate`), `new` (fewer
    /// than 3 runs), else `passing`. See docs/results.md. In pages, in key
    /// order: `limit` tests, and `next_cursor` to pass as `cursor` for the
    /// next page; `total` is exact up to 10000, else 10000 and
    /// `total_capped`. The default window's pages are read by index; another
    /// `window` reads every matching test's runs.
    #[oai(path = "/tests", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        /// Only tests of this repository URL, exactly.
        #[oai(validator(max_length = 2048))]
        repo: Query<Option<String>>,
        /// Only tests of this profile, exactly (empty: the workers' default).
        #[oai(validator(max_length = 64))]
        profile: Query<Option<String>>,
        /// Only tests in this state.
        #[oai(name = "state")]
        test_state: Query<Option<TestState>>,
        /// Only tests whose task id or case name contains this (any case).
        #[oai(validator(max_length = 512))]
        q: Query<Option<String>>,
        /// Runs per test to judge by, 1 to 1000; 30 when absent.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        window: Query<Option<u32>>,
        /// Tests per page, 1 to 10000; 10000 when absent.
        #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
        limit: Query<Option<u32>>,
        /// Where the page starts: a previous page's `next_cursor` (404 for
        /// one this API did not give).
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{1,8192}$"))]
        cursor: Query<Option<String>>,
    ) -> Result<SerdeJson<TestList>, ApiError> {
        let cursor = parse_cursor(cursor.0.as_deref())?;
        let window = window.0.unwrap_or(testarena_events::DEFAULT_WINDOW);
        let filter = TestFilter {
            repo: repo.0.as_deref(),
            profile: profile.0.as_deref(),
            text: q.0.as_deref(),
        };
        let limit = limit.0.unwrap_or(MAX_TESTS_PER_PAGE);
        if window != testarena_events::DEFAULT_WINDOW {
            return other_window_page(&state, &filter, test_state.0, window, cursor, limit).await;
        }
        let after = cursor.as_ref().map(TestCursor::key);
        let rate = state.flaky_flip_rate;
        let page = state
            .views
            .test_page(&filter, test_state.0, rate, after, limit)
            .await?;
        let tests = page
            .tests
            .into_iter()
            .map(|(test, figures)| {
                TestSummary::of(&test.key, test.quarantine_reason, figures, rate)
            })
            .collect();
        Ok(SerdeJson(TestList {
            tests,
            next_cursor: page.next_after.map(TestCursor::after_key),
            total: page.total,
            total_capped: page.total_capped,
        }))
    }

    /// One test's runs, newest first
    #[oai(path = "/tests/history", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn history(
        &self,
        state: Data<&Arc<AppState>>,
        #[oai(validator(
            min_length = 1,
            max_length = 2048,
            pattern = r"^[^-\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        ))]
        repo: Query<String>,
        /// Absent (or empty): the workers' default profile.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{0,64}$"))]
        profile: Query<Option<String>>,
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))] task: Query<String>,
        /// A JUnit case (`classname.name`); absent: the task itself.
        #[oai(validator(
            min_length = 1,
            max_length = 512,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
        ))]
        case: Query<Option<String>>,
        /// Most runs listed, 1 to 10000; 200 when absent.
        #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<TestHistoryPage>, ApiError> {
        let profile = profile.0.as_deref().filter(|p| !p.is_empty());
        let key = test_key(&repo.0, profile, &task.0, case.0.as_deref())?;
        let limit = limit.0.unwrap_or(DEFAULT_HISTORY_LIMIT);
        let Some(history) = state.views.test_history(&key, limit).await? else {
            return Err(no_test(&key));
        };
        let window = history
            .runs
            .len()
            .min(testarena_events::DEFAULT_WINDOW as usize);
        let summary = TestSummary::of(
            &history.test.key,
            history.test.quarantine_reason,
            window_figures(&history.runs[..window]),
            state.flaky_flip_rate,
        );
        Ok(Json(TestHistoryPage {
            test: summary,
            failures: failure_groups(&history.runs),
            runs: history.runs,
            bisect_runs: history.bisect_runs,
            quarantines: history.quarantines,
        }))
    }

    /// Quarantine a test
    ///
    /// It still runs and is recorded, but its `FAIL` or `TIMEOUT` no longer
    /// fails a queue (the task says `quarantined`, `counts.quarantined`).
    /// A task whose every failed JUnit case is quarantined is excused too.
    #[oai(path = "/tests/quarantine", method = "post")]
    async fn quarantine(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        body: StrictJson<QuarantineRequest>,
    ) -> Result<QuarantineResponse, ApiError> {
        let body = body.0;
        let key = test_key(
            &body.repo,
            body.profile.as_deref(),
            &body.task,
            body.case.as_deref(),
        )?;
        let reason = checked_reason(&body.reason)?;
        let event = TestEvent::new(
            key,
            TestEventBody::Quarantined {
                reason,
                by: "user".into(),
                actor: Some(default_owner(request).as_str().to_owned()),
            },
        );
        publish_and_show(&state, event).await
    }

    /// End a test's quarantine
    #[oai(path = "/tests/quarantine", method = "delete")]
    async fn unquarantine(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        body: StrictJson<UnquarantineRequest>,
    ) -> Result<QuarantineResponse, ApiError> {
        let body = body.0;
        let key = test_key(
            &body.repo,
            body.profile.as_deref(),
            &body.task,
            body.case.as_deref(),
        )?;
        let reason = body.reason.as_deref().filter(|r| !r.trim().is_empty());
        let reason = reason.map(checked_reason).transpose()?;
        let actor = Some(default_owner(request).as_str().to_owned());
        let event = TestEvent::new(key, TestEventBody::Unquarantined { reason, actor });
        publish_and_show(&state, event).await
    }
}

/// A page of the list over a window other than the stored one: each
/// matching test's runs are read and judged here, then paged (a scan of
/// the filter's tests, for a question the default window does not answer).
async fn other_window_page(
    state: &AppState,
    filter: &TestFilter<'_>,
    test_state: Option<TestState>,
    window: u32,
    cursor: Option<TestCursor>,
    limit: u32,
) -> Result<SerdeJson<TestList>, ApiError> {
    let tests = state
        .views
        .tests(filter, window)
        .await?
        .into_iter()
        .map(|(test, figures)| {
            let rate = state.flaky_flip_rate;
            TestSummary::of(&test.key, test.quarantine_reason, figures, rate)
        })
        .filter(|summary| test_state.is_none_or(|s| summary.state == s))
        .collect::<Vec<_>>();
    let total = tests.len() as u64;
    let (tests, next_cursor) = test_cursor::page(tests, cursor.as_ref(), limit as usize);
    Ok(SerdeJson(TestList {
        tests,
        next_cursor,
        total: total.min(COUNT_CAP),
        total_capped: total > COUNT_CAP,
    }))
}

/// A page's `cursor`: only a `next_cursor` this API gave names a page; any
/// other is a page that does not exist (404), as an unknown id is.
fn parse_cursor(cursor: Option<&str>) -> Result<Option<TestCursor>, ApiError> {
    cursor
        .map(|c| {
            TestCursor::parse(c).ok_or_else(|| {
                ApiError::no_test("no page at this cursor: pass a next_cursor this API gave")
            })
        })
        .transpose()
}

/// A test's identity from request values, naming the part that is wrong.
fn test_key(
    repo: &str,
    profile: Option<&str>,
    task: &str,
    case: Option<&str>,
) -> Result<TestKey, ApiError> {
    TestKey::parse(repo, profile, task, case)
        .map_err(|(field, e)| ApiError::invalid_field(field, e))
}

fn checked_reason(reason: &str) -> Result<String, ApiError> {
    if reason.trim().is_empty() || reason.len() > MAX_REASON {
        return Err(ApiError::invalid_field(
            "reason",
            format!("must be 1 to {MAX_REASON} bytes, not blank"),
        ));
    }
    Ok(reason.to_owned())
}

fn no_test(key: &TestKey) -> ApiError {
    ApiError::no_test(format!(
        "no runs or quarantine recorded for task {:?} (case {:?}) of {} with profile {:?}",
        key.task(),
        key.case(),
        key.repo(),
        key.profile()
    ))
}

/// Publishes the event, waits (bounded) for the projector, and answers with
/// the test as it is then.
async fn publish_and_show(
    state: &AppState,
    event: TestEvent,
) -> Result<QuarantineResponse, ApiError> {
    let seq = state.events.publish_test_event(&event).await?;
    if !state.applied.wait_for(seq, state.submit_wait).await {
        return Ok(QuarantineResponse::Accepted(Json(TestEventAccepted {
            seq,
        })));
    }
    let window = testarena_events::DEFAULT_WINDOW;
    match state.views.test_history(&event.test, window).await? {
        Some(history) => Ok(QuarantineResponse::Ok(Json(Box::new(TestSummary::of(
            &history.test.key,
            history.test.quarantine_reason,
            window_figures(&history.runs),
            state.flaky_flip_rate,
        ))))),
        None => Ok(QuarantineResponse::Accepted(Json(TestEventAccepted {
            seq,
        }))),
    }
}
