-- Customer ids that are gone: merged into survivor_id by merge_id, or
-- erased (survivor_id and merge_id ''). An event published for such a
-- customer before its merge or erasure can be delivered after it (a
-- retried message, another replica's batch); ApplyEvents applies it to the
-- survivor instead, following survivors merged away in turn, or drops it
-- when the chain ends at an erased id, rather than re-creating a customer
-- that no longer exists. Undoing the merge (ApplyUnmerge) deletes the
-- restored customer's row. Kept as long as the ids of applied events are:
-- a delivery can come as late as a duplicate can.
CREATE TABLE retired_customers (
    workspace_id TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    survivor_id  TEXT NOT NULL,
    merge_id     TEXT NOT NULL,
    PRIMARY KEY (workspace_id, customer_id)
);
