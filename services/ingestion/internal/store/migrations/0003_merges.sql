-- Identity traits as received and normalised (JSON list, see package
-- profile), kept current with the traits.
ALTER TABLE customers ADD COLUMN identity_traits TEXT NOT NULL DEFAULT '[]';
CREATE INDEX customers_live ON customers (workspace_id, merged_into, customer_id);

-- Merges are recorded with what undoing them needs: the redirects they
-- changed (JSON list of {"id","merged_into"}), and in merge_events and
-- merge_identities where each moved event and identity came from.
ALTER TABLE merges ADD COLUMN source TEXT NOT NULL DEFAULT 'resolution';
ALTER TABLE merges ADD COLUMN state TEXT NOT NULL DEFAULT 'applied';
ALTER TABLE merges ADD COLUMN suggestion_id TEXT NOT NULL DEFAULT '';
ALTER TABLE merges ADD COLUMN redirects TEXT NOT NULL DEFAULT '[]';
ALTER TABLE merges ADD COLUMN moved_events BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merges ADD COLUMN undo_time BIGINT NOT NULL DEFAULT 0;
CREATE INDEX merges_by_time ON merges (workspace_id, merge_time, merge_id);
CREATE INDEX merges_by_survivor ON merges (workspace_id, survivor_id, merge_time);

CREATE TABLE merge_events (
    workspace_id TEXT NOT NULL,
    merge_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (workspace_id, merge_id, event_id)
);

CREATE TABLE merge_identities (
    workspace_id TEXT NOT NULL,
    merge_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (workspace_id, merge_id, kind, value)
);

CREATE INDEX events_by_receive ON events (workspace_id, customer_id, receive_time);

CREATE TABLE duplicate_scans (
    workspace_id TEXT NOT NULL,
    scan_id TEXT NOT NULL,
    state TEXT NOT NULL,
    phase TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    customers_total BIGINT NOT NULL DEFAULT 0,
    customers_scanned BIGINT NOT NULL DEFAULT 0,
    pairs_compared BIGINT NOT NULL DEFAULT 0,
    suggestions_created BIGINT NOT NULL DEFAULT 0,
    merges_applied BIGINT NOT NULL DEFAULT 0,
    auto_merge BOOLEAN NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, scan_id)
);

-- One row per pair of customers (customer_a < customer_b), whatever its
-- state: a rejected pair is never suggested again.
CREATE TABLE merge_suggestions (
    workspace_id TEXT NOT NULL,
    suggestion_id TEXT NOT NULL,
    customer_a TEXT NOT NULL,
    customer_b TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    reasons TEXT NOT NULL,
    state TEXT NOT NULL,
    scan_id TEXT NOT NULL,
    merge_id TEXT NOT NULL DEFAULT '',
    create_time BIGINT NOT NULL,
    decide_time BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, suggestion_id)
);
CREATE UNIQUE INDEX merge_suggestions_pair ON merge_suggestions (workspace_id, customer_a, customer_b);
CREATE INDEX merge_suggestions_by_state ON merge_suggestions (workspace_id, state, score, suggestion_id);
