-- Data-rights requests (DELETE, SUPPRESS, UNSUPPRESS) and each service's
-- progress on them. A deleted person's target is stored masked: the request
-- must not keep what it deleted.
CREATE TABLE regulations (
    workspace_id TEXT NOT NULL,
    regulation_id TEXT NOT NULL,
    type TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    -- JSON list of the customer ids the request applied to.
    customer_ids TEXT NOT NULL DEFAULT '[]',
    create_time BIGINT NOT NULL,
    done_time BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, regulation_id)
);

CREATE TABLE regulation_services (
    workspace_id TEXT NOT NULL,
    regulation_id TEXT NOT NULL,
    service TEXT NOT NULL,
    state TEXT NOT NULL,
    affected_rows BIGINT NOT NULL DEFAULT 0,
    update_time BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, regulation_id, service)
);

-- Suppressed identities, as SHA-256 of kind and normalised value: a
-- deleted person's e-mail must not stay readable here, yet a late event
-- carrying it must still be recognised and dropped.
CREATE TABLE suppressions (
    workspace_id TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    regulation_id TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key_hash)
);
