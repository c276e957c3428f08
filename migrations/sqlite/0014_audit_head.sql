-- The audit log's head: one row holding its size, updated by every append inside the appending
-- transaction. The update's row lock gives the log one append order when several instances write
-- one database (Postgres); on SQLite the write transaction holds the database's lock already.

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL
);
INSERT INTO audit_head (id, size) SELECT 1, COALESCE(MAX(seq), 0) FROM audit_log;
