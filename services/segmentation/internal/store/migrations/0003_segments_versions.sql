-- Bumped with every segment created or deleted in a workspace, so the
-- engine's cache of parsed segments (read on every event) can be validated
-- with one primary-key read, also when another replica changed them. A
-- workspace without a row is at version 0.
CREATE TABLE segments_versions (
    workspace_id TEXT NOT NULL PRIMARY KEY,
    version      BIGINT NOT NULL
);

-- applied_messages.applied_at is when this service applied the message
-- (processing time), for every kind; rows written before this migration
-- hold the event's own time for kind 'event'.
