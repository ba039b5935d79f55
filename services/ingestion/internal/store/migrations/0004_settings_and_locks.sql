-- The region phone numbers without a country code are read in.
ALTER TABLE workspaces ADD COLUMN phone_region TEXT NOT NULL DEFAULT 'JP';

-- When each trait was last received (JSON object of Unix microseconds), so
-- that a merge keeps the most recently received value of every trait
-- without reading the customers' events.
ALTER TABLE customers ADD COLUMN trait_times TEXT NOT NULL DEFAULT '{}';

-- At most one running scan per workspace, also under concurrent requests.
CREATE UNIQUE INDEX duplicate_scans_running ON duplicate_scans (workspace_id) WHERE state = 'running';

-- Suggestions are listed by score, highest first.
DROP INDEX merge_suggestions_by_state;
CREATE INDEX merge_suggestions_by_score ON merge_suggestions (workspace_id, state, score DESC, suggestion_id);
