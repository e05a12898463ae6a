-- Boards (`<prefix>.boards.<worker>.<board>.<kind>` events), for
-- `GET /api/boards` and a board's history. The registry says which boards
-- exist and their health; these tables hold what only the events know.
--
-- `boards`: one row per board an event named, its state after the last
-- one: the queue leased to it (and shard), the reservation (token name,
-- RFC 3339 end and the same in ms, reason), and its admission with the
-- reason as the board events last said it. `seq`: the last event folded.
CREATE TABLE boards (
    worker             TEXT NOT NULL,
    board              TEXT NOT NULL,
    queue              TEXT,
    shard              INTEGER,
    reserved_by        TEXT,
    reserved_until     TEXT,
    until_ms           INTEGER,
    reservation_reason TEXT,
    admission          TEXT NOT NULL DEFAULT 'ready'
                       CHECK (admission IN ('ready', 'quarantined', 'offline')),
    reason             TEXT,
    seq                INTEGER NOT NULL,
    PRIMARY KEY (worker, board)
);

-- One row per board event, in stream order (`seq`): what, when, who.
-- `queue` for a lease or release; `detail` a reason, a power action and
-- its outcome, a reservation's end.
CREATE TABLE board_changes (
    seq     INTEGER PRIMARY KEY NOT NULL,
    worker  TEXT NOT NULL,
    board   TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('leased', 'released', 'reserved', 'expired',
                                          'power', 'quarantined', 'readmitted', 'offline')),
    at      TEXT NOT NULL,
    by_whom TEXT NOT NULL,
    queue   TEXT,
    detail  TEXT
);
CREATE INDEX board_changes_by_board ON board_changes (worker, board, seq DESC);

-- The queues a board ran: one row per lease (`seq`: its leased event),
-- `released` set by the release that names its queue.
CREATE TABLE board_runs (
    seq      INTEGER PRIMARY KEY NOT NULL,
    worker   TEXT NOT NULL,
    board    TEXT NOT NULL,
    queue    TEXT NOT NULL,
    leased   TEXT NOT NULL,
    released TEXT
);
CREATE INDEX board_runs_by_board ON board_runs (worker, board, seq DESC);
