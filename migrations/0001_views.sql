-- Views written only by the projector; the gateway reads them.
-- Everything here can be rebuilt from the events stream (`testarena projector --rebuild`).

-- One row per queue. The indexed columns serve listing and filtering; `view_json`
-- is the whole queue view (tasks, stages, counts) as the API returns it, so a
-- read is one row and a projected batch writes each touched queue once.
CREATE TABLE queues (
    id            TEXT PRIMARY KEY NOT NULL,
    submitted_seq INTEGER NOT NULL,          -- events-stream sequence of `submitted`: newest-first order
    status        TEXT NOT NULL CHECK (status IN ('Waiting', 'Running', 'Finished', 'Error', 'Cancelled')),
    submitted_at  TEXT NOT NULL,
    updated_seq   INTEGER NOT NULL,          -- last event applied to this queue
    view_json     TEXT NOT NULL
);
CREATE INDEX queues_by_seq ON queues (submitted_seq DESC);
CREATE INDEX queues_by_status ON queues (status, submitted_seq DESC);

-- Deleted ids, so late events and log batches of a deleted queue are ignored.
CREATE TABLE deleted_queues (
    id          TEXT PRIMARY KEY NOT NULL,
    deleted_seq INTEGER NOT NULL
);

-- Bytes of `<data>/<id>/queue_log.txt` that are committed. A projector killed
-- between appending and committing truncates the file back to this on restart.
CREATE TABLE log_files (
    queue_id TEXT PRIMARY KEY NOT NULL,
    bytes    INTEGER NOT NULL,
    lines    INTEGER NOT NULL
);

-- Last applied sequence per stream, written in the same transaction as the
-- effect of the messages up to it: the projector's exactly-once guarantee.
CREATE TABLE projector_offsets (
    stream TEXT PRIMARY KEY NOT NULL,
    seq    INTEGER NOT NULL
);
