-- Consent per purpose (package consent): a JSON object {"<purpose>":
-- {"granted": bool, "time": unix µs, "source": "…"}}, folded from the
-- customer's events like traits, absorbed by merges and folded again by an
-- undo.
ALTER TABLE customers ADD COLUMN consents TEXT NOT NULL DEFAULT '{}';
-- Workspace settings: marketing sends need a granted consent (not only the
-- absence of a withdrawal), and how many days raw events are kept (0:
-- forever).
ALTER TABLE workspaces ADD COLUMN require_consent BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE workspaces ADD COLUMN event_retention_days INTEGER NOT NULL DEFAULT 0;
-- The retention job deletes a workspace's events by receive time.
CREATE INDEX events_by_workspace_receive ON events (workspace_id, receive_time);
