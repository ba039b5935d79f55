-- Segmentation's own copy of what it needs from ingested events. Times are
-- BIGINT Unix microseconds (UTC); JSON documents are TEXT. Every key starts
-- with workspace_id.

-- One row per customer: traits merged per key (latest event wins, hence the
-- per-key times), first/last seen, number of events.
CREATE TABLE customers (
    workspace_id TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    traits       TEXT NOT NULL,
    trait_times  TEXT NOT NULL,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    event_count  BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, customer_id)
);

-- Track events and page/screen views, counted by event conditions.
CREATE TABLE behaviours (
    workspace_id TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, event_id)
);
CREATE INDEX behaviours_by_name ON behaviours (workspace_id, name, occurred_at, customer_id);
CREATE INDEX behaviours_by_customer ON behaviours (workspace_id, customer_id, name, occurred_at);

-- Purchases, keyed by order id so a re-sent order counts once.
CREATE TABLE orders (
    workspace_id TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    revenue      DOUBLE PRECISION NOT NULL,
    occurred_at  BIGINT NOT NULL,
    event_id     TEXT NOT NULL,
    PRIMARY KEY (workspace_id, order_id)
);
CREATE INDEX orders_by_customer ON orders (workspace_id, customer_id);

-- Bumped with every change to a workspace's orders, so cached RFM scores
-- can be validated with one primary-key read.
CREATE TABLE orders_versions (
    workspace_id TEXT NOT NULL PRIMARY KEY,
    version      BIGINT NOT NULL
);

-- Ids of applied bus messages (kind 'event' or 'merge'), written in the
-- transaction of their effects: at-least-once delivery, effects once.
CREATE TABLE applied_messages (
    workspace_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    applied_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, kind, message_id)
);

CREATE TABLE segments (
    workspace_id TEXT NOT NULL,
    segment_id   TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL,
    rule         TEXT NOT NULL,
    -- The rule reads event windows or RFM scores: the sweep re-evaluates it.
    is_dynamic   BOOLEAN NOT NULL,
    create_time  BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, segment_id)
);
CREATE INDEX segments_dynamic ON segments (is_dynamic, workspace_id);

CREATE TABLE memberships (
    workspace_id TEXT NOT NULL,
    segment_id   TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    join_time    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, segment_id, customer_id),
    FOREIGN KEY (workspace_id, segment_id) REFERENCES segments (workspace_id, segment_id) ON DELETE CASCADE
);
CREATE INDEX memberships_by_customer ON memberships (workspace_id, customer_id, segment_id);

-- Membership changes not yet published, written with the change itself so
-- a crash before publishing loses nothing. change_id is a UUIDv7: id order
-- is commit order within one process.
CREATE TABLE membership_outbox (
    workspace_id TEXT NOT NULL,
    change_id    TEXT NOT NULL,
    segment_id   TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    joined       BOOLEAN NOT NULL,
    change_time  BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, change_id)
);
CREATE INDEX membership_outbox_order ON membership_outbox (change_id);
