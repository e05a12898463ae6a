-- Workers' state changes (`<prefix>.workers.<worker>.<kind>` events):
-- drained, quarantined, readmitted, offline, with who and when, for
-- `GET /api/workers`. One row per event, in stream order (`seq`, its
-- events-stream sequence). `by_whom`: the API token's name, the worker's id
-- or `registry`; `profile` for a quarantine or readmit; `detail` a
-- quarantine's reason, or `left`/`silent` for offline; `last_seen` the
-- offline record's last heartbeat, which keeps one offline per departure.
CREATE TABLE worker_changes (
    seq       INTEGER PRIMARY KEY NOT NULL,
    worker    TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('drained', 'quarantined', 'readmitted', 'offline')),
    at        TEXT NOT NULL,
    by_whom   TEXT NOT NULL,
    profile   TEXT,
    detail    TEXT,
    last_seen TEXT
);
CREATE INDEX worker_changes_by_worker ON worker_changes (worker, seq DESC);
