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
