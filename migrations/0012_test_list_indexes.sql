-- The test list reads by index, never by scanning `tests` (issue 26). Each
-- filter of `GET /api/tests` (default window) is a column here: virtual
-- generated columns read from `summary_json`, the figures the projector
-- rewrites with each run, so its writes do not change and existing rows
-- (and a rebuild) have them at once.
--
-- A test's state depends on the gateway's `--flaky-flip-rate`, which the
-- projector does not know, so the stored column is the part of the state
-- that does not (`WindowFigures::state` in crates/events/src/test_state.rs,
-- mirrored here and tested against it): `failing`, `flaky`, `new`,
-- `passing`, or `flips` — judged (3 runs or more), neither failing nor
-- surely flaky, with 2 changes of result or more: `flaky` when its
-- `flip_rate` is at or above the gateway's rate, else `passing`. The
-- gateway reads `flips` rows apart and merges them by key.
ALTER TABLE tests ADD COLUMN window_runs INTEGER GENERATED ALWAYS AS (coalesce(summary_json ->> '$.runs', 0)) VIRTUAL;
ALTER TABLE tests ADD COLUMN flip_rate REAL GENERATED ALWAYS AS (coalesce(summary_json ->> '$.flip_rate', 0.0)) VIRTUAL;
ALTER TABLE tests ADD COLUMN settled_state TEXT GENERATED ALWAYS AS (
    CASE
        WHEN coalesce(summary_json ->> '$.failing_streak', 0) >= 3 THEN 'failing'
        WHEN coalesce(summary_json ->> '$.flaky_runs', 0) > 0
          OR coalesce(summary_json ->> '$.pass_and_fail_on_one_commit', 0) THEN 'flaky'
        WHEN coalesce(summary_json ->> '$.runs', 0) < 3 THEN 'new'
        WHEN coalesce(summary_json ->> '$.flips', 0) >= 2 THEN 'flips'
        ELSE 'passing'
    END) VIRTUAL;

-- Each index ends in the rest of the key (repo, profile, task, case), so a
-- page walks it in key order from its cursor and stops after the page. The
-- key's own order is the UNIQUE index of `tests` (repo and profile filters).
CREATE INDEX tests_by_profile ON tests (profile, repo, task, case_name);
CREATE INDEX tests_by_state ON tests (settled_state, repo, profile, task, case_name, flip_rate);
CREATE INDEX tests_by_state_profile ON tests (settled_state, profile, repo, task, case_name, flip_rate);

-- `q` is a substring in any case of the task id or the case name: a trigram
-- full-text index (case-insensitive) whose rowid is the test's id. It holds
-- only the trigrams (`content = 'tests'`); the triggers keep it in step.
CREATE VIRTUAL TABLE test_text USING fts5 (
    task, case_name, content = 'tests', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO test_text (test_text) VALUES ('rebuild');

CREATE TRIGGER test_text_inserted AFTER INSERT ON tests BEGIN
    INSERT INTO test_text (rowid, task, case_name) VALUES (new.id, new.task, new.case_name);
END;
CREATE TRIGGER test_text_deleted AFTER DELETE ON tests BEGIN
    INSERT INTO test_text (test_text, rowid, task, case_name)
    VALUES ('delete', old.id, old.task, old.case_name);
END;
-- A test's name never changes; only its figures and quarantine do, and
-- those updates leave the text index alone.
CREATE TRIGGER test_text_updated AFTER UPDATE ON tests
WHEN old.task IS NOT new.task OR old.case_name IS NOT new.case_name OR old.id IS NOT new.id
BEGIN
    INSERT INTO test_text (test_text, rowid, task, case_name)
    VALUES ('delete', old.id, old.task, old.case_name);
    INSERT INTO test_text (rowid, task, case_name) VALUES (new.id, new.task, new.case_name);
END;
