-- Bulk evaluations keep a workspace's behaviour in memory and refresh it
-- from here (segment.Engine's event cache). Every transaction that writes
-- behaviour takes the next behaviours_versions version of its workspace,
-- last, and holds that row until it commits, so versions commit in order:
-- seq stamps each inserted row with the version of its transaction, and
-- behaviour_changes records the customers whose rows a transaction moved
-- (merges, unmerges) or deleted (customer_id '' for an erasure: everyone,
-- so no erased id is kept). A cache at version w, reading version v,
-- appends the rows with w < seq <= v and reloads the customers changed in
-- (w, v]. Rows written before this migration have seq 0.
ALTER TABLE behaviours ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX behaviours_by_seq ON behaviours (workspace_id, seq);

CREATE TABLE behaviours_versions (
    workspace_id TEXT NOT NULL PRIMARY KEY,
    version      BIGINT NOT NULL
);

CREATE TABLE behaviour_changes (
    workspace_id TEXT NOT NULL,
    version      BIGINT NOT NULL,
    customer_id  TEXT NOT NULL,
    PRIMARY KEY (workspace_id, version, customer_id)
);
