-- API keys with kinds and scopes (issue 12). A key is still stored only as
-- its SHA-256 hash. Keys made before this migration (every workspace's
-- first key, the dev key) are secret keys with the admin scope. scopes is
-- a space-separated list; revoke_time 0 means active.
ALTER TABLE api_keys ADD COLUMN api_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'secret';
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE api_keys ADD COLUMN key_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN revoke_time BIGINT NOT NULL DEFAULT 0;
UPDATE api_keys SET api_key_id = 'key_' || substr(key_hash, 1, 24), display_name = 'default';
CREATE UNIQUE INDEX api_keys_by_id ON api_keys (workspace_id, api_key_id);
CREATE INDEX api_keys_by_create ON api_keys (workspace_id, create_time, api_key_id);
