-- Every signed checkpoint of the audit log's Merkle tree the service has made, kept: an auditor's
-- older checkpoint can be checked against the log, and each against the next.

CREATE TABLE audit_checkpoints (
    size       INTEGER PRIMARY KEY,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
