-- One row per bisect: its view (`BisectView`) as JSON, folded from the
-- `<prefix>.bisect.<id>.<kind>` events; a deleted bisect's row goes with it.
-- `status` is a column so the gateway's driver finds the running ones.
CREATE TABLE bisects (
    id            TEXT PRIMARY KEY,
    requested_seq INTEGER NOT NULL,
    status        TEXT NOT NULL,
    updated_seq   INTEGER NOT NULL,
    view_json     TEXT NOT NULL
);
CREATE INDEX bisects_by_status ON bisects (status);
