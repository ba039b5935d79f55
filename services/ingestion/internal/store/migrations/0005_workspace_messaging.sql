-- Workspace messaging settings (see Workspace in workspaces.proto), read by
-- campaign through GetWorkspace. One column per setting; the frequency caps
-- are a JSON list of {"channel": "email"|"line"|"webhook", "max_sends": N,
-- "period_ns": nanoseconds}, at most one per channel.
ALTER TABLE workspaces ADD COLUMN timezone TEXT NOT NULL DEFAULT 'Asia/Tokyo';
-- "HH:MM" each; both empty: no quiet hours.
ALTER TABLE workspaces ADD COLUMN quiet_hours_start TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN quiet_hours_end TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN frequency_caps TEXT NOT NULL DEFAULT '[]';
ALTER TABLE workspaces ADD COLUMN allow_loopback_urls BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE workspaces ADD COLUMN allow_private_urls BOOLEAN NOT NULL DEFAULT FALSE;
