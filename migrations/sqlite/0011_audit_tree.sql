-- The audit log's RFC 6962 Merkle tree: the hash of every complete subtree (level, index), written
-- in the transaction that appends the entry completing it (tlog's stored-hash layout).

CREATE TABLE audit_tree (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);
