-- Customers metrics has seen in events. first_seen is Unix microseconds
-- (UTC), the earliest event time of the customer or of anyone merged into it.
CREATE TABLE customers (
	workspace_id TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	first_seen BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, customer_id)
);

-- One row per distinct order. order_key is 'order:<order_id>', or
-- 'event:<event_id>' for a purchase without an order id, so an order resent
-- under a new message id is stored once.
CREATE TABLE orders (
	workspace_id TEXT NOT NULL,
	order_key TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	order_time BIGINT NOT NULL,
	revenue DOUBLE PRECISION NOT NULL,
	currency TEXT NOT NULL,
	PRIMARY KEY (workspace_id, order_key)
);
CREATE INDEX orders_by_time ON orders (workspace_id, order_time);
CREATE INDEX orders_by_customer ON orders (workspace_id, customer_id);

-- Merged customer ids and the survivor they now are, always pointing at a
-- customer that is not itself merged, so one lookup resolves any id. Late
-- events for a merged id land on the survivor.
CREATE TABLE customer_aliases (
	workspace_id TEXT NOT NULL,
	merged_customer_id TEXT NOT NULL,
	survivor_customer_id TEXT NOT NULL,
	PRIMARY KEY (workspace_id, merged_customer_id)
);
CREATE INDEX customer_aliases_by_survivor ON customer_aliases (workspace_id, survivor_customer_id);

-- Ids of bus messages already applied (kind 'event' or 'merge'), written in
-- the same transaction as their effect so a redelivery changes nothing.
CREATE TABLE applied_messages (
	workspace_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	message_id TEXT NOT NULL,
	applied_at BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, kind, message_id)
);
