-- A run of a test is one task of a queue with all its tries (a task tried
-- FAIL, FAIL, PASS is one `FLAKY` run, `try` 3), not one row per try; and a
-- run of a bisect step queue carries its bisect, so the test's state and
-- flip rate leave it out. A view database folded before this migration
-- keeps its per-try rows until `testarena projector --rebuild`.
ALTER TABLE test_runs ADD COLUMN bisect_id TEXT;
-- The tries of a retried task, `[{result, exit_code, duration_ms}]`
-- (`TryView`); NULL for a task tried once and for a JUnit case.
ALTER TABLE test_runs ADD COLUMN tries_json TEXT;
