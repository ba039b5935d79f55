-- The event an order came from, so that undoing a merge can hand the
-- restored customer back exactly the orders of the events it gets back.
-- Orders keyed 'event:<event_id>' carry their event in the key; orders keyed
-- 'order:<order_id>' stored before this migration never recorded theirs and
-- keep '': an undone merge cannot move them back and they stay with the
-- survivor. The first event stored for an order key is the one recorded,
-- as it is the one whose revenue counts.
ALTER TABLE orders ADD COLUMN event_id TEXT NOT NULL DEFAULT '';
UPDATE orders SET event_id = substr(order_key, 7) WHERE substr(order_key, 1, 6) = 'event:';
CREATE INDEX orders_by_event ON orders (workspace_id, event_id);

-- applied_messages now also records kind 'unmerge' (an undone merge, by
-- unmerge id).
