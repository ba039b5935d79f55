-- Bus messages written in the same transaction as the data they describe; a
-- relay publishes and deletes them (transactional outbox).
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    create_time BIGINT NOT NULL
);
