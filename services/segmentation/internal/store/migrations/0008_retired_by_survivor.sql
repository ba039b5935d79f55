-- An erasure looks up and deletes the records naming an erased id as
-- survivor (ids merged into it, along chains); without this index each
-- such look-up read all of the workspace's retired customers (8 days of
-- merges).
CREATE INDEX retired_customers_by_survivor ON retired_customers (workspace_id, survivor_id);
