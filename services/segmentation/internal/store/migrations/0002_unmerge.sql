-- Customers restored by undoing a merge, per merge. A merge delivered after
-- its own undo (its first delivery failed and was retried) must not fold
-- them into the survivor again. The unmerge messages themselves are
-- recorded in applied_messages with kind 'unmerge'.
CREATE TABLE unmerged_customers (
    workspace_id TEXT NOT NULL,
    merge_id     TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    PRIMARY KEY (workspace_id, merge_id, customer_id)
);
