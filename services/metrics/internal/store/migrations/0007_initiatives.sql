-- PDCA initiatives (the KPI trees' initiatives table is another thing). body is the PdcaInitiative message as protobuf JSON;
-- state and kpi are copied out of it for the list's filters, and an update
-- only applies when the state is still the one it was read in, so two
-- concurrent moves cannot both apply.
CREATE TABLE pdca_initiatives (
	workspace_id TEXT NOT NULL,
	initiative_id TEXT NOT NULL,
	state TEXT NOT NULL,
	kpi TEXT NOT NULL,
	body TEXT NOT NULL,
	create_time BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, initiative_id)
);
CREATE INDEX pdca_initiatives_by_time ON pdca_initiatives (workspace_id, create_time);
