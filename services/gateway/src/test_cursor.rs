//! Pure: the test list's cursor, and pages of a list read whole (a window
//! other than the stored one). Tests are listed in key order (repo,
//! profile, task, case), so a page's cursor is the key of its last test:
//! the next page starts after it, whatever was added or filtered out
//! meanwhile, and no offset drifts. On the wire the cursor is that key as
//! JSON in URL-safe base64, opaque to clients.

use base64::Engine as _;
use testarena_events::{TestKey, TestSummary};

/// Where a page of the test list starts: after this key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestCursor(TestKey);

impl TestCursor {
    /// A cursor as `GET /api/tests` gave it; `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let [repo, profile, task, case]: [String; 4] = serde_json::from_slice(&json).ok()?;
        Some(Self(TestKey::trusted(&repo, &profile, &task, &case)))
    }

    /// The cursor of the page after the one ending at `key`, as the API
    /// gives it.
    pub(crate) fn after_key(key: TestKey) -> String {
        Self(key).encode()
    }

    /// The key of the test the page starts after.
    pub(crate) fn key(&self) -> &TestKey {
        &self.0
    }

    fn after(test: &TestSummary) -> Self {
        Self(key_of(test))
    }

    fn encode(&self) -> String {
        let parts = [
            self.0.repo(),
            self.0.profile(),
            self.0.task(),
            self.0.case(),
        ];
        let json = serde_json::to_vec(&parts).expect("strings serialize");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }
}

fn key_of(test: &TestSummary) -> TestKey {
    TestKey::trusted(
        &test.repo,
        test.profile.as_deref().unwrap_or(""),
        &test.task,
        test.case.as_deref().unwrap_or(""),
    )
}

/// The page of `tests` (in key order) that starts after `cursor`, at most
/// `limit` long, and the cursor of the next page when there is one.
pub(crate) fn page(
    tests: Vec<TestSummary>,
    cursor: Option<&TestCursor>,
    limit: usize,
) -> (Vec<TestSummary>, Option<String>) {
    let mut rest: Vec<TestSummary> = match cursor {
        Some(TestCursor(after)) => tests.into_iter().filter(|t| key_of(t) > *after).collect(),
        None => tests,
    };
    let next = (rest.len() > limit).then(|| TestCursor::after(&rest[limit - 1]).encode());
    rest.truncate(limit);
    (rest, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(task: &str, case: Option<&str>) -> TestSummary {
        let key = TestKey::trusted("/repo", "", task, case.unwrap_or(""));
        TestSummary::of(&key, None, Default::default(), 0.2)
    }

    fn names(tests: &[TestSummary]) -> Vec<String> {
        tests
            .iter()
            .map(|t| format!("{}{}", t.task, t.case.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn pages_follow_each_other_by_key_to_the_end() {
        let all = || {
            vec![
                test("a", None),
                test("a", Some(".x")),
                test("b", None),
                test("c", None),
                test("d", None),
            ]
        };
        let (first, next) = page(all(), None, 2);
        assert_eq!(names(&first), ["a", "a.x"]);
        let cursor = TestCursor::parse(&next.unwrap()).unwrap();
        let (second, next) = page(all(), Some(&cursor), 2);
        assert_eq!(names(&second), ["b", "c"]);
        let cursor = TestCursor::parse(&next.unwrap()).unwrap();
        let (last, next) = page(all(), Some(&cursor), 2);
        assert_eq!(names(&last), ["d"]);
        assert_eq!(next, None, "no page after the last");
        // A test added before the cursor does not shift the next page.
        let mut grown = all();
        grown.insert(0, test("0", None));
        let (again, _) = page(grown, Some(&cursor), 2);
        assert_eq!(names(&again), ["d"]);
    }

    #[test]
    fn only_a_cursor_the_api_gave_parses() {
        assert_eq!(TestCursor::parse("not base64!"), None);
        let not_a_key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"[1,2]");
        assert_eq!(TestCursor::parse(&not_a_key), None);
    }
}
