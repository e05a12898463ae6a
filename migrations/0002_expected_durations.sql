-- The duration of the last PASS or FAIL run of a task id, per repository and
-- profile ('' for the worker's default): what a newly submitted queue's tasks
-- expect (`expected_duration_ms`). Folded from the events stream in order.
CREATE TABLE expected_durations (
    repo        TEXT NOT NULL,
    profile     TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (repo, profile, task_id)
);
