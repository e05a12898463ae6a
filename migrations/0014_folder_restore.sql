-- Queue folders a snapshot's restore has yet to write. A rebuild from a
-- snapshot restores the views at once and writes the folders only of the
-- queues it replays; the following projector writes every other queue's
-- `queue_status.json` in the background, in id order, from the id after
-- `after`. One row while a restore is pending, none once it is done.
CREATE TABLE folder_restore (
    one   INTEGER PRIMARY KEY NOT NULL CHECK (one = 1),
    after TEXT NOT NULL
);
