-- The backbone schema. Never edit an applied migration; add a new one.

CREATE TABLE applications (
    id          TEXT PRIMARY KEY,
    service     TEXT NOT NULL,
    form        TEXT NOT NULL,
    state       TEXT NOT NULL,
    submissions INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Metadata only: the bytes live in the content-addressed blob store, never modified.
CREATE TABLE documents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT NOT NULL REFERENCES applications (id),
    file_name      TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    format         TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX documents_by_application ON documents (application_id, id);

CREATE TABLE submissions (
    application_id  TEXT NOT NULL REFERENCES applications (id),
    seq             INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    submitted_on    TEXT NOT NULL,
    document_ids    TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (application_id, seq),
    UNIQUE (application_id, idempotency_key)
);

CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT NOT NULL REFERENCES applications (id),
    submission_seq INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_until_ms INTEGER,
    last_error     TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX jobs_by_state ON jobs (state, id);

-- Every decision stays on record; the latest submission's decision is the current one.
CREATE TABLE decisions (
    application_id TEXT NOT NULL REFERENCES applications (id),
    submission_seq INTEGER NOT NULL,
    outcome        TEXT NOT NULL,
    ruleset        TEXT NOT NULL,
    decision       TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (application_id, submission_seq)
);

-- Rule sets by hash, so a decision can be replayed under the rules it was made under.
CREATE TABLE rulesets (
    hash  TEXT PRIMARY KEY,
    files TEXT NOT NULL
);

-- Append-only, hash-chained: hash = sha256(prev_hash ‖ canonical entry).
CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    actor          TEXT NOT NULL,
    kind           TEXT NOT NULL,
    application_id TEXT,
    payload        TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
