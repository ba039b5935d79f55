-- Holdouts and A/B variants: what each customer was assigned in a journey,
-- per unit ("holdout", or "step:<step id>"), recorded at the first exposure
-- and never reshuffled (a restart, a merge or a change of weights keeps it).
CREATE TABLE assignments (
	workspace_id TEXT   NOT NULL,
	journey_id   TEXT   NOT NULL,
	customer_id  TEXT   NOT NULL,
	unit         TEXT   NOT NULL,
	variant      TEXT   NOT NULL,
	assign_time  BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, journey_id, customer_id, unit)
);

-- "holdout", or the variant of the first A/B step an entry reached.
ALTER TABLE entries ADD COLUMN variant TEXT NOT NULL DEFAULT '';
-- The variant a send carries ("holdout" for one held out).
ALTER TABLE sends ADD COLUMN variant TEXT NOT NULL DEFAULT '';
