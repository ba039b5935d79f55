-- Bulk imports (ImportService): the job with its stored progress and lease,
-- the uploaded file in chunks (so that any replica can run or resume the
-- job), and the rows it rejected.
CREATE TABLE imports (
    workspace_id TEXT NOT NULL,
    import_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    encoding TEXT NOT NULL,
    -- JSON of the column mapping.
    mapping TEXT NOT NULL,
    state TEXT NOT NULL,
    bytes_total BIGINT NOT NULL DEFAULT 0,
    chunks BIGINT NOT NULL DEFAULT 0,
    -- Progress, written after each stored batch: data rows done (the
    -- position a resumed job skips to) and the counters.
    bytes_read BIGINT NOT NULL DEFAULT 0,
    rows_read BIGINT NOT NULL DEFAULT 0,
    rows_imported BIGINT NOT NULL DEFAULT 0,
    rows_rejected BIGINT NOT NULL DEFAULT 0,
    rows_duplicate BIGINT NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    -- The replica running the job and until when its claim holds.
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    -- Microseconds spent running, over every run (the rate's base).
    run_micros BIGINT NOT NULL DEFAULT 0,
    create_time BIGINT NOT NULL,
    start_time BIGINT NOT NULL DEFAULT 0,
    update_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, import_id)
);

CREATE INDEX imports_by_state ON imports (state, lease_until);

CREATE TABLE import_chunks (
    workspace_id TEXT NOT NULL,
    import_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    -- BYTEA: SQLite keeps a blob as a blob under this type name too.
    data BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, import_id, seq)
);

CREATE TABLE import_rejections (
    workspace_id TEXT NOT NULL,
    import_id TEXT NOT NULL,
    line BIGINT NOT NULL,
    reason TEXT NOT NULL,
    row_text TEXT NOT NULL,
    PRIMARY KEY (workspace_id, import_id, line)
);
