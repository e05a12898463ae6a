-- Test history: every run of every test, folded from the events stream in
-- order (`task_finished` tries and JUnit cases), and each test's quarantine
-- (`<prefix>.tests.quarantined` / `unquarantined`). Rebuildable like every view.

-- One row per test: (repo, profile ('' = the worker's default), task id,
-- JUnit case name ('' = the task itself)). `id` is given in stream order, so
-- a rebuild gives the same ids.
CREATE TABLE tests (
    id                INTEGER PRIMARY KEY,
    repo              TEXT NOT NULL,
    profile           TEXT NOT NULL,
    task              TEXT NOT NULL,
    case_name         TEXT NOT NULL,
    quarantined       INTEGER NOT NULL DEFAULT 0,
    quarantine_reason TEXT,
    -- The figures over its last 30 runs (`WindowFigures` as JSON), rewritten
    -- with each run: what `GET /api/tests` reads for its default window
    -- without touching `test_runs`. NULL until the test has a run.
    summary_json      TEXT,
    UNIQUE (repo, profile, task, case_name)
);

-- One row per run, clustered by test and newest first, so one test's window
-- or history is one range of the primary key. `seq` is the events-stream
-- sequence of the `task_finished` that recorded it.
CREATE TABLE test_runs (
    test_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    try         INTEGER NOT NULL,
    queue_id    TEXT NOT NULL,
    commit_sha  TEXT,
    attempt     INTEGER NOT NULL,
    result      TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (test_id, seq, try)
) WITHOUT ROWID;
-- A deleted queue's runs go with it.
CREATE INDEX test_runs_by_queue ON test_runs (queue_id);
