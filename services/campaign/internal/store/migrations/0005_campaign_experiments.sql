-- A campaign (a broadcast) carries the holdout and goal of the journey it
-- launches as; goal is the kizuna.campaign.v1.Goal as protojson, '' for
-- none.
ALTER TABLE campaigns ADD COLUMN holdout_percent DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN goal TEXT NOT NULL DEFAULT '';
