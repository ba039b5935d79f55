-- Final outcomes of journey sends (SENT or FAILED), from the deliveries
-- stream; channel is the channel type (EMAIL, LINE, WEBHOOK).
CREATE TABLE sends (
	workspace_id TEXT NOT NULL,
	send_id TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	channel TEXT NOT NULL,
	journey_id TEXT NOT NULL,
	status TEXT NOT NULL,
	send_time BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, send_id)
);
CREATE INDEX sends_by_time ON sends (workspace_id, send_time);
CREATE INDEX sends_by_customer ON sends (workspace_id, customer_id);
