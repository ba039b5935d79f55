-- Named events (track, page, screen) for funnels. properties is the
-- event's properties as JSON text.
CREATE TABLE events (
	workspace_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	name TEXT NOT NULL,
	event_time BIGINT NOT NULL,
	properties TEXT NOT NULL,
	PRIMARY KEY (workspace_id, event_id)
);
CREATE INDEX events_by_name ON events (workspace_id, name, event_time);
CREATE INDEX events_by_customer ON events (workspace_id, customer_id);

-- `Survey Answered` events. kind is 'nps' (0–10) or 'csat' (1–5).
CREATE TABLE survey_answers (
	workspace_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	survey TEXT NOT NULL,
	kind TEXT NOT NULL,
	score DOUBLE PRECISION NOT NULL,
	comment TEXT NOT NULL,
	answer_time BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, event_id)
);
CREATE INDEX survey_answers_by_time ON survey_answers (workspace_id, answer_time);
CREATE INDEX survey_answers_by_customer ON survey_answers (workspace_id, customer_id);

-- Marketing spend, spread evenly over [start_time, end_time).
CREATE TABLE costs (
	workspace_id TEXT NOT NULL,
	cost_id TEXT NOT NULL,
	amount DOUBLE PRECISION NOT NULL,
	currency TEXT NOT NULL,
	channel TEXT NOT NULL,
	campaign_id TEXT NOT NULL,
	journey_id TEXT NOT NULL,
	start_time BIGINT NOT NULL,
	end_time BIGINT NOT NULL,
	create_time BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, cost_id)
);

-- One row per workspace that changed its settings; exchange_rates is a
-- JSON object of currency to rate.
CREATE TABLE metrics_settings (
	workspace_id TEXT NOT NULL PRIMARY KEY,
	currency TEXT NOT NULL,
	exchange_rates TEXT NOT NULL,
	gross_margin DOUBLE PRECISION NOT NULL,
	f2_window_days INTEGER NOT NULL
);

-- KPI trees; nodes is the JSON array of the tree's nodes as the API shows
-- them.
CREATE TABLE kpi_trees (
	workspace_id TEXT NOT NULL,
	kpi_tree_id TEXT NOT NULL,
	display_name TEXT NOT NULL,
	nodes TEXT NOT NULL,
	create_time BIGINT NOT NULL,
	update_time BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, kpi_tree_id)
);

-- Workspaces that got their starter tree, so deleting it does not bring
-- it back.
CREATE TABLE starter_trees (
	workspace_id TEXT NOT NULL PRIMARY KEY,
	kpi_tree_id TEXT NOT NULL
);

CREATE TABLE initiatives (
	workspace_id TEXT NOT NULL,
	initiative_id TEXT NOT NULL,
	kpi_tree_id TEXT NOT NULL,
	node_id TEXT NOT NULL,
	title TEXT NOT NULL,
	description TEXT NOT NULL,
	stage TEXT NOT NULL,
	owner TEXT NOT NULL,
	campaign_id TEXT NOT NULL,
	create_time BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, initiative_id)
);
CREATE INDEX initiatives_by_tree ON initiatives (workspace_id, kpi_tree_id);
