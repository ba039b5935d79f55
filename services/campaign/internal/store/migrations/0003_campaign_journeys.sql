-- Campaigns run as broadcast journeys, so journeys and campaigns share one
-- send path. A launched campaign names its journey and the webhook channel
-- made for it.
ALTER TABLE campaigns ADD COLUMN journey_id TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN channel_id TEXT NOT NULL DEFAULT '';

-- The rendered text of a send (its first 4 KiB), shown in send listings
-- and as a campaign delivery's message.
ALTER TABLE sends ADD COLUMN body TEXT NOT NULL DEFAULT '';

-- Deliveries of campaigns launched before become the sends of a journey
-- id of their own (no journey row: it ran on the old path). Deliveries
-- still pending were never sent and never will be: they are failed, saying
-- why, rather than silently dropped.
UPDATE campaigns SET journey_id = 'jny_legacy_' || campaign_id WHERE state <> 'draft';
INSERT INTO sends (workspace_id, send_id, journey_id, entry_id, customer_id, entry_number, step_id, channel_id,
	channel_type, status, error, attempts, create_time, planned_time, send_time, body, published)
SELECT workspace_id, delivery_id, 'jny_legacy_' || campaign_id, delivery_id, customer_id, 1, 'message', '',
	'webhook', CASE WHEN status = 'pending' THEN 'failed' ELSE status END,
	CASE WHEN status = 'pending' THEN 'not sent before the upgrade to journeys' ELSE last_error END,
	attempts, send_time, send_time, send_time, message, TRUE
FROM deliveries;
UPDATE campaigns SET state = 'completed' WHERE state = 'sending';
DROP TABLE deliveries;
