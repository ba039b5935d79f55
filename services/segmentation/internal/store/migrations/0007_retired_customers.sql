-- Customer ids that are gone: merged into survivor_id by merge_id, or
-- erased (survivor_id and merge_id ''; customer_id is then the SHA-256 of
-- the id, see erasedKey, so no erased id is kept in the clear). An event
-- published for such a customer before its merge or erasure can be
-- delivered after it (a retried message, another replica's batch);
-- ApplyEvents applies it to the survivor instead, following survivors
-- merged away in turn, or drops it when the chain ends at an erased id,
-- rather than re-creating a customer that no longer exists. Undoing the
-- merge (ApplyUnmerge) deletes the restored customer's row. Rows are
-- pruned once older than prune.DedupeWindow (retired_at, Unix
-- microseconds): such an event is older than its merge or erasure, and
-- the bus no longer holds it by then.
CREATE TABLE retired_customers (
    workspace_id TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    survivor_id  TEXT NOT NULL,
    merge_id     TEXT NOT NULL,
    retired_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, customer_id)
);
CREATE INDEX retired_customers_retired_at ON retired_customers (retired_at);
