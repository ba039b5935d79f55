-- Event properties, read by property filters and aggregates of event
-- conditions (a JSON object; '{}' for rows written before this migration).
ALTER TABLE behaviours ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';

-- Built-in segments (named RFM segments, lifecycle stages) are read-only.
ALTER TABLE segments ADD COLUMN built_in BOOLEAN NOT NULL DEFAULT FALSE;

-- A workspace's lifecycle thresholds; no row means the defaults.
CREATE TABLE lifecycle_settings (
    workspace_id     TEXT NOT NULL PRIMARY KEY,
    loyal_min_orders INTEGER NOT NULL,
    dormant_days     INTEGER NOT NULL,
    churned_days     INTEGER NOT NULL
);

-- Every join (+1) and leave (-1), written with the membership change, so
-- sizes over time can be read back. Seeded with the memberships of before.
CREATE TABLE membership_history (
    workspace_id TEXT NOT NULL,
    segment_id   TEXT NOT NULL,
    change_id    TEXT NOT NULL,
    change_time  BIGINT NOT NULL,
    delta        INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, segment_id, change_time, change_id)
);
INSERT INTO membership_history (workspace_id, segment_id, change_id, change_time, delta)
SELECT workspace_id, segment_id, 'seed-' || customer_id, join_time, 1 FROM memberships;

-- Predicted traits from the last fit of the workspace's purchase models,
-- replaced wholesale by each fit; clv is NULL when the spend model did not
-- apply.
CREATE TABLE predictions (
    workspace_id       TEXT NOT NULL,
    customer_id        TEXT NOT NULL,
    probability_alive  DOUBLE PRECISION NOT NULL,
    expected_purchases DOUBLE PRECISION NOT NULL,
    clv                DOUBLE PRECISION,
    PRIMARY KEY (workspace_id, customer_id)
);

-- The last fit (fit_time 0: none yet) and the sweep's last attempt.
CREATE TABLE prediction_fits (
    workspace_id     TEXT NOT NULL PRIMARY KEY,
    fit_time         BIGINT NOT NULL,
    customers        BIGINT NOT NULL,
    repeat_customers BIGINT NOT NULL,
    clv_reason       TEXT NOT NULL,
    attempt_time     BIGINT NOT NULL
);

-- Computed trait definitions (JSON), by key.
CREATE TABLE computed_traits (
    workspace_id TEXT NOT NULL,
    trait_key    TEXT NOT NULL,
    definition   TEXT NOT NULL,
    PRIMARY KEY (workspace_id, trait_key)
);
