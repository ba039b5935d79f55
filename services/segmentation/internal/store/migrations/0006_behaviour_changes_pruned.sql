-- behaviour_changes is pruned to the latest versions of each workspace:
-- changes_from is the version up to which its rows may be gone, so a cache
-- older than that reloads everything instead of missing a change.
ALTER TABLE behaviours_versions ADD COLUMN changes_from BIGINT NOT NULL DEFAULT 0;
