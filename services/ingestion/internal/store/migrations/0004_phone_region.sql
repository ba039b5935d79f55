-- The region phone numbers without a country code are read in.
ALTER TABLE workspaces ADD COLUMN phone_region TEXT NOT NULL DEFAULT 'JP';
