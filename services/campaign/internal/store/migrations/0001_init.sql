-- Times are BIGINT Unix microseconds, UTC; 0 means "not set".

CREATE TABLE campaigns (
	workspace_id     TEXT   NOT NULL,
	campaign_id      TEXT   NOT NULL,
	display_name     TEXT   NOT NULL,
	segment_id       TEXT   NOT NULL,
	webhook_url      TEXT   NOT NULL,
	message_template TEXT   NOT NULL,
	state            TEXT   NOT NULL,
	create_time      BIGINT NOT NULL,
	launch_time      BIGINT NOT NULL DEFAULT 0,
	complete_time    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (workspace_id, campaign_id)
);

-- The dispatcher's completion sweep looks only at SENDING campaigns.
CREATE INDEX campaigns_sending ON campaigns (workspace_id, campaign_id) WHERE state = 'sending';

CREATE TABLE deliveries (
	workspace_id  TEXT    NOT NULL,
	delivery_id   TEXT    NOT NULL,
	campaign_id   TEXT    NOT NULL,
	customer_id   TEXT    NOT NULL,
	status        TEXT    NOT NULL,
	message       TEXT    NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT    NOT NULL DEFAULT '',
	response_code INTEGER NOT NULL DEFAULT 0,
	send_time     BIGINT  NOT NULL DEFAULT 0,
	-- A pending delivery may be claimed once lease_until has passed. A claim
	-- pushes it forward by the lease; a retryable failure sets it to the
	-- next attempt time. One column serves both, so "due" is one comparison.
	lease_until   BIGINT  NOT NULL DEFAULT 0,
	-- Random per claim; recording an outcome requires it, so a dispatcher
	-- whose lease expired cannot overwrite a newer claim's result.
	lease_token   TEXT    NOT NULL DEFAULT '',
	-- Whether the final outcome was published on the deliveries stream
	-- (an outbox flag: publishing is retried until it succeeds).
	published     BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (workspace_id, delivery_id),
	-- One delivery per member: this is what makes a repeated or concurrent
	-- launch send each customer the message once.
	UNIQUE (workspace_id, campaign_id, customer_id),
	FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, campaign_id)
);

CREATE INDEX deliveries_due ON deliveries (lease_until) WHERE status = 'pending';
CREATE INDEX deliveries_pending ON deliveries (workspace_id, campaign_id) WHERE status = 'pending';
CREATE INDEX deliveries_by_campaign ON deliveries (workspace_id, campaign_id, delivery_id);
CREATE INDEX deliveries_unpublished ON deliveries (workspace_id, delivery_id) WHERE status <> 'pending' AND NOT published;
