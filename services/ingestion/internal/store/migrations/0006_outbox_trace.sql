-- The trace context of the request that wrote each outbox row, so the relay
-- publishes the message in that trace (bus.EncodeTrace).
ALTER TABLE outbox ADD COLUMN trace_context TEXT NOT NULL DEFAULT '';
