-- A test's page (`GET /api/tests/history`): each failed run's message, so
-- failures can be grouped by their first line, and every quarantine and
-- its end with who asked (the API token's name), when and why. A view
-- database folded before this migration has neither for its older runs and
-- quarantines until `testarena projector --rebuild`.
ALTER TABLE test_runs ADD COLUMN message TEXT;

-- One row per test event, in stream order (`seq`, its events-stream
-- sequence). `by`: `user` or `auto`; `actor`: the token's name, NULL for
-- `auto` and for events written before it was recorded.
CREATE TABLE test_quarantine_events (
    test_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    reason      TEXT,
    by_whom     TEXT,
    actor       TEXT,
    at          TEXT NOT NULL,
    PRIMARY KEY (test_id, seq)
) WITHOUT ROWID;
