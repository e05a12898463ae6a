-- The queue list reads by index, never by scanning `queues` (issue 26).
-- Each filter of `GET /api/queues` is a column here: virtual generated
-- columns read from `view_json`, so the projector's writes do not change and
-- a rebuild fills them by itself. Each exact filter has an index ending in
-- `submitted_seq`, so a page walks its filter's index newest first and stops
-- after the page (a keyset `cursor` is a `submitted_seq`); `is_step`
-- (a bisect step queue) comes before it, since the list leaves steps out by
-- default.
ALTER TABLE queues ADD COLUMN repo TEXT GENERATED ALWAYS AS (view_json ->> '$.source.repo') VIRTUAL;
ALTER TABLE queues ADD COLUMN git_ref TEXT GENERATED ALWAYS AS (view_json ->> '$.source.ref') VIRTUAL;
ALTER TABLE queues ADD COLUMN commit_sha TEXT GENERATED ALWAYS AS (view_json ->> '$.commit') VIRTUAL;
ALTER TABLE queues ADD COLUMN profile TEXT GENERATED ALWAYS AS (view_json ->> '$.profile') VIRTUAL;
ALTER TABLE queues ADD COLUMN is_step INTEGER GENERATED ALWAYS AS (view_json ->> '$.bisect' IS NOT NULL) VIRTUAL;

CREATE INDEX queues_listed ON queues (is_step, submitted_seq);
CREATE INDEX queues_listed_by_status ON queues (is_step, status, submitted_seq);
CREATE INDEX queues_by_ref ON queues (git_ref, is_step, submitted_seq);
CREATE INDEX queues_by_profile ON queues (profile, is_step, submitted_seq);
-- A commit filter is a prefix: a range of this index (few queues per commit).
CREATE INDEX queues_by_commit ON queues (commit_sha);

-- `repo` and `q` are substrings: a trigram full-text index over the id,
-- repo, ref and commit (case-insensitive, as `q` is; `repo` is checked again
-- for case). Its rowid is the queue's `submitted_seq`, one per queue. It
-- holds no copy of the text (`content = 'queues'`), only the trigrams; the
-- triggers keep it in step with every write of `queues`, so the projector's
-- code does not know it exists.
CREATE VIRTUAL TABLE queue_text USING fts5 (
    id, repo, git_ref, commit_sha,
    content = 'queues', content_rowid = 'submitted_seq', tokenize = 'trigram'
);
INSERT INTO queue_text (queue_text) VALUES ('rebuild');

CREATE TRIGGER queue_text_inserted AFTER INSERT ON queues BEGIN
    INSERT INTO queue_text (rowid, id, repo, git_ref, commit_sha)
    VALUES (new.submitted_seq, new.id, new.repo, new.git_ref, new.commit_sha);
END;
CREATE TRIGGER queue_text_deleted AFTER DELETE ON queues BEGIN
    INSERT INTO queue_text (queue_text, rowid, id, repo, git_ref, commit_sha)
    VALUES ('delete', old.submitted_seq, old.id, old.repo, old.git_ref, old.commit_sha);
END;
-- Only the commit changes after the submit (at checkout); other updates
-- (every event) leave the text index alone.
CREATE TRIGGER queue_text_updated AFTER UPDATE ON queues
WHEN old.commit_sha IS NOT new.commit_sha OR old.repo IS NOT new.repo
  OR old.git_ref IS NOT new.git_ref OR old.submitted_seq IS NOT new.submitted_seq
BEGIN
    INSERT INTO queue_text (queue_text, rowid, id, repo, git_ref, commit_sha)
    VALUES ('delete', old.submitted_seq, old.id, old.repo, old.git_ref, old.commit_sha);
    INSERT INTO queue_text (rowid, id, repo, git_ref, commit_sha)
    VALUES (new.submitted_seq, new.id, new.repo, new.git_ref, new.commit_sha);
END;
