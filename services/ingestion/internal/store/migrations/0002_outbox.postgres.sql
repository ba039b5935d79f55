-- Bus messages written in the same transaction as the data they describe; a
-- relay publishes and deletes them (transactional outbox).
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    payload BYTEA NOT NULL,
    create_time BIGINT NOT NULL
);
