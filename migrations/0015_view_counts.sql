-- Queues by status and tasks by result (or status while unfinished): what
-- `/metrics` shows (`testarena_queues`, `testarena_tasks`). Kept by the
-- projector in each batch's transaction, so a scrape reads a few rows
-- instead of parsing every queue's view (25 s at 1,000,000 queues).
-- Filled here once from the views as they are.
CREATE TABLE view_counts (
    kind TEXT NOT NULL CHECK (kind IN ('queue_status', 'task_result')),
    key  TEXT NOT NULL,
    n    INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;

INSERT INTO view_counts (kind, key, n)
SELECT 'queue_status', status, COUNT(*) FROM queues GROUP BY status;

INSERT INTO view_counts (kind, key, n)
SELECT 'task_result',
       COALESCE(json_extract(t.value, '$.result'), json_extract(t.value, '$.status')),
       COUNT(*)
FROM queues q, json_each(q.view_json, '$.tasks') t
GROUP BY 2;
