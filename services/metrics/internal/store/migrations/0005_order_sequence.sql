-- seq numbers each workspace's orders (and customer changes) in commit order (ledger_versions.seq
-- is bumped under its row lock in the inserting transaction), so a reader
-- holding the orders up to some seq can fetch exactly the ones added since.
-- Orders stored before this migration keep 0. structure is bumped by every
-- merge and undone merge: they move orders between customers, which a
-- reader can only follow by reading everything again.
ALTER TABLE orders ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX orders_by_seq ON orders (workspace_id, seq);
-- Customers likewise, re-sequenced whenever an event inserts one or lowers
-- its first_seen.
ALTER TABLE customers ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX customers_by_seq ON customers (workspace_id, seq);

CREATE TABLE ledger_versions (
	workspace_id TEXT NOT NULL PRIMARY KEY,
	structure BIGINT NOT NULL,
	seq BIGINT NOT NULL
);
