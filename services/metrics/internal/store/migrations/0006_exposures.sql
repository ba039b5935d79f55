-- Each customer's first exposure to a journey's experiment, from the send
-- outcomes on the deliveries stream: the arm ("holdout", an A/B variant's
-- name, or "treatment" for a journey without variants) and the time —
-- the send time, or for the holdout the time the send would have gone
-- out. The earliest outcome wins, so a redelivery or a later send never
-- moves a customer to another arm. customer_id is the id at exposure;
-- results resolve it through customer_aliases, so a merge moves the
-- customer's orders but never the assignment.
CREATE TABLE exposures (
	workspace_id TEXT NOT NULL,
	journey_id TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	variant TEXT NOT NULL,
	exposure_time BIGINT NOT NULL,
	send_id TEXT NOT NULL,
	PRIMARY KEY (workspace_id, journey_id, customer_id)
);
