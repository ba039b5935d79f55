-- Times are Unix microseconds (UTC); JSON documents are TEXT.
CREATE TABLE workspaces (
    workspace_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    create_time BIGINT NOT NULL
);

-- Keys are stored as SHA-256 hashes: a leaked table leaks no key.
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (workspace_id),
    create_time BIGINT NOT NULL
);

CREATE TABLE customers (
    workspace_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    -- The user id the customer holds, if any: resolution never merges two.
    user_id TEXT NOT NULL DEFAULT '',
    traits TEXT NOT NULL DEFAULT '{}',
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    event_count BIGINT NOT NULL DEFAULT 0,
    -- Set when the customer was merged into another; reads follow it.
    merged_into TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workspace_id, customer_id)
);

CREATE TABLE identities (
    workspace_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, kind, value)
);
CREATE INDEX identities_by_customer ON identities (workspace_id, customer_id);

CREATE TABLE events (
    workspace_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL DEFAULT '',
    anonymous_id TEXT NOT NULL DEFAULT '',
    event_time BIGINT NOT NULL,
    receive_time BIGINT NOT NULL,
    properties TEXT NOT NULL DEFAULT '{}',
    traits TEXT NOT NULL DEFAULT '{}',
    context TEXT NOT NULL DEFAULT '{}',
    group_id TEXT NOT NULL DEFAULT '',
    previous_id TEXT NOT NULL DEFAULT '',
    order_id TEXT NOT NULL DEFAULT '',
    revenue DOUBLE PRECISION NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workspace_id, event_id)
);
CREATE INDEX events_by_customer ON events (workspace_id, customer_id, event_time);

CREATE TABLE merges (
    workspace_id TEXT NOT NULL,
    merge_id TEXT NOT NULL,
    survivor_id TEXT NOT NULL,
    merged_ids TEXT NOT NULL,
    merge_time BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, merge_id)
);
