-- The newest attempt with a line in each queue's queue_log.txt, per shard
-- (-1: an unsharded queue). A log batch of an older attempt that comes
-- after it (a paused worker woke up) is left out of the file
-- (testarena_events::LogAttempts). A deleted queue's rows go with it.
CREATE TABLE log_attempts (
    queue_id TEXT NOT NULL,
    shard    INTEGER NOT NULL,
    attempt  INTEGER NOT NULL,
    PRIMARY KEY (queue_id, shard)
);
