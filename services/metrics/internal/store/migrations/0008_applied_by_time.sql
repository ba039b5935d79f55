-- The prune job deletes applied message ids by age (platform/prune).
CREATE INDEX applied_messages_by_time ON applied_messages (applied_at);
