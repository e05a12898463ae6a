-- Firmware section sizes per queue (the `firmware_measured` event of its
-- shown attempt): what `GET /api/sizes?repo=&profile=` lists per commit.
-- `profile` is the one the worker ran (its default resolved). Folded from
-- the events stream; a deleted queue's row goes with it.
CREATE TABLE firmware_sizes (
    queue_id    TEXT PRIMARY KEY,
    repo        TEXT NOT NULL,
    profile     TEXT NOT NULL,
    commit_sha  TEXT,
    text        INTEGER NOT NULL,
    data        INTEGER NOT NULL,
    bss         INTEGER NOT NULL,
    measured_at TEXT NOT NULL,
    seq         INTEGER NOT NULL
);
CREATE INDEX firmware_sizes_by_source ON firmware_sizes (repo, profile, seq);
