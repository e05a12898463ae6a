-- What the Sizes page and the size diff need of each measure: the commit's
-- first-parent depth (its order along the branch, from the checkout's
-- commit_context; the gateway has no git), the profile's size budget (for
-- % used), and the ELF's largest symbols as a JSON array of {name, size}
-- (at most 500, largest first) to diff by symbol. Folded from the events
-- stream like the rest of the row.
ALTER TABLE firmware_sizes ADD COLUMN commit_depth INTEGER;
ALTER TABLE firmware_sizes ADD COLUMN flash_budget INTEGER;
ALTER TABLE firmware_sizes ADD COLUMN ram_budget INTEGER;
ALTER TABLE firmware_sizes ADD COLUMN symbols_json TEXT NOT NULL DEFAULT '[]';
CREATE INDEX firmware_sizes_by_depth ON firmware_sizes (repo, profile, commit_depth);
