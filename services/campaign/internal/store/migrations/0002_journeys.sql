-- Channels, journeys, per-customer journey entries, sends and consent.
-- Times are BIGINT Unix microseconds, UTC; 0 means "not set".

CREATE TABLE channels (
	workspace_id TEXT   NOT NULL,
	channel_id   TEXT   NOT NULL,
	display_name TEXT   NOT NULL,
	-- email, line or webhook.
	type         TEXT   NOT NULL,
	-- The non-secret settings as JSON.
	config       TEXT   NOT NULL,
	-- The secrets as JSON sealed with the service's secret key (AES-GCM,
	-- bound to workspace and channel id); '' when none is set.
	secrets      TEXT   NOT NULL DEFAULT '',
	create_time  BIGINT NOT NULL,
	update_time  BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, channel_id)
);
-- LINE's webhook names only the channel.
CREATE UNIQUE INDEX channels_by_id ON channels (channel_id);

CREATE TABLE journeys (
	workspace_id  TEXT   NOT NULL,
	journey_id    TEXT   NOT NULL,
	display_name  TEXT   NOT NULL,
	-- draft, active, paused or archived.
	state         TEXT   NOT NULL,
	-- The definition: kizuna.campaign.v1.Journey as protojson.
	definition    TEXT   NOT NULL,
	-- event, segment or broadcast, and the event name or segment id, so an
	-- arriving event finds its journeys without decoding every definition.
	entry_kind    TEXT   NOT NULL,
	entry_key     TEXT   NOT NULL,
	create_time   BIGINT NOT NULL,
	update_time   BIGINT NOT NULL,
	activate_time BIGINT NOT NULL DEFAULT 0,
	-- A broadcast's members have all been enrolled.
	enrolled      BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (workspace_id, journey_id)
);
CREATE INDEX journeys_live ON journeys (workspace_id) WHERE state IN ('active', 'paused');

-- Bumped on every journey change, so replicas' caches of the live journeys
-- notice with one cheap read.
CREATE TABLE journey_versions (
	workspace_id TEXT   NOT NULL PRIMARY KEY,
	version      BIGINT NOT NULL
);

-- One row per customer per entry into a journey: the durable state the
-- runner advances.
CREATE TABLE entries (
	workspace_id TEXT    NOT NULL,
	entry_id     TEXT    NOT NULL,
	journey_id   TEXT    NOT NULL,
	customer_id  TEXT    NOT NULL,
	entry_number INTEGER NOT NULL,
	-- in_progress, completed or exited.
	state        TEXT    NOT NULL,
	-- The step it is at (in progress) or ended at.
	step_id      TEXT    NOT NULL,
	-- The current step is a waitFor still waiting: due_time is its timeout.
	waiting      BOOLEAN NOT NULL DEFAULT FALSE,
	-- When the current step runs; claims take due rows.
	due_time     BIGINT  NOT NULL DEFAULT 0,
	lease_until  BIGINT  NOT NULL DEFAULT 0,
	lease_token  TEXT    NOT NULL DEFAULT '',
	-- The entry event's properties as JSON ('{}' for other entries).
	event        TEXT    NOT NULL DEFAULT '{}',
	enter_time   BIGINT  NOT NULL,
	end_time     BIGINT  NOT NULL DEFAULT 0,
	exit_reason  TEXT    NOT NULL DEFAULT '',
	error        TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (workspace_id, entry_id),
	UNIQUE (workspace_id, journey_id, customer_id, entry_number)
);
-- At most one entry in progress per customer and journey, whatever races.
CREATE UNIQUE INDEX entries_one_live ON entries (workspace_id, journey_id, customer_id) WHERE state = 'in_progress';
CREATE INDEX entries_due ON entries (due_time) WHERE state = 'in_progress';
CREATE INDEX entries_by_customer ON entries (workspace_id, customer_id, entry_id);
CREATE INDEX entries_by_journey ON entries (workspace_id, journey_id, state, step_id);

CREATE TABLE sends (
	workspace_id  TEXT    NOT NULL,
	send_id       TEXT    NOT NULL,
	journey_id    TEXT    NOT NULL,
	entry_id      TEXT    NOT NULL,
	customer_id   TEXT    NOT NULL,
	entry_number  INTEGER NOT NULL,
	step_id       TEXT    NOT NULL,
	channel_id    TEXT    NOT NULL,
	channel_type  TEXT    NOT NULL,
	transactional BOOLEAN NOT NULL DEFAULT FALSE,
	-- pending, deferred, sent, failed or skipped.
	status        TEXT    NOT NULL,
	reason        TEXT    NOT NULL DEFAULT '',
	error         TEXT    NOT NULL DEFAULT '',
	provider_message_id TEXT NOT NULL DEFAULT '',
	attempts      INTEGER NOT NULL DEFAULT 0,
	create_time   BIGINT  NOT NULL,
	-- When it is due (pending, deferred) or was planned to go out.
	planned_time  BIGINT  NOT NULL,
	send_time     BIGINT  NOT NULL DEFAULT 0,
	late          BOOLEAN NOT NULL DEFAULT FALSE,
	subject       TEXT    NOT NULL DEFAULT '',
	-- The idempotency key a LINE multicast of this send used (shared by
	-- the group), kept so a retry repeats the same call.
	batch_key     TEXT    NOT NULL DEFAULT '',
	lease_until   BIGINT  NOT NULL DEFAULT 0,
	lease_token   TEXT    NOT NULL DEFAULT '',
	published     BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (workspace_id, send_id),
	-- Exactly once per (journey, customer, entry, step).
	UNIQUE (workspace_id, journey_id, customer_id, entry_number, step_id)
);
CREATE INDEX sends_due ON sends (planned_time) WHERE status IN ('pending', 'deferred');
CREATE INDEX sends_by_journey ON sends (workspace_id, journey_id, send_id);
CREATE INDEX sends_by_customer ON sends (workspace_id, customer_id, send_id);
-- Frequency caps count a customer's recent sends per channel type.
CREATE INDEX sends_recent ON sends (workspace_id, customer_id, channel_type, send_time) WHERE status = 'sent';
CREATE INDEX sends_unpublished ON sends (workspace_id, send_id) WHERE status IN ('sent', 'failed', 'skipped') AND NOT published;

-- Opt-outs per customer and channel type.
CREATE TABLE consents (
	workspace_id TEXT    NOT NULL,
	customer_id  TEXT    NOT NULL,
	channel_type TEXT    NOT NULL,
	subscribed   BOOLEAN NOT NULL,
	source       TEXT    NOT NULL,
	update_time  BIGINT  NOT NULL,
	PRIMARY KEY (workspace_id, customer_id, channel_type)
);

-- Bus messages already applied (events, membership changes), so a
-- redelivery changes nothing.
CREATE TABLE applied_messages (
	workspace_id TEXT   NOT NULL,
	message_id   TEXT   NOT NULL,
	apply_time   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, message_id)
);
