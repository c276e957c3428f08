-- The reviewer's side: claims (a lease on a case), human decisions, and permits with gap-free numbers.

ALTER TABLE applications ADD COLUMN claimed_by INTEGER REFERENCES users (id);
ALTER TABLE applications ADD COLUMN claim_until_ms INTEGER;

CREATE TABLE reviews (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id    TEXT NOT NULL REFERENCES applications (id),
    submission_seq    INTEGER NOT NULL,
    reviewer_id       INTEGER NOT NULL REFERENCES users (id),
    action            TEXT NOT NULL CHECK (action IN ('issue', 'refuse', 'request_materials')),
    reason_code       TEXT NOT NULL,
    text              TEXT NOT NULL,
    missing_materials TEXT NOT NULL,
    document          TEXT NOT NULL,
    created_at        TEXT NOT NULL
);

-- One row per service and year; incremented in the same transaction that inserts the permit, so a
-- rolled-back issue leaves no gap.
CREATE TABLE permit_counters (
    service TEXT NOT NULL,
    year    INTEGER NOT NULL,
    last    INTEGER NOT NULL,
    PRIMARY KEY (service, year)
);

CREATE TABLE permits (
    number         TEXT PRIMARY KEY,
    service        TEXT NOT NULL,
    year           INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    application_id TEXT NOT NULL UNIQUE REFERENCES applications (id),
    holder         TEXT NOT NULL,
    valid_from     TEXT NOT NULL,
    valid_to       TEXT NOT NULL,
    issued_by      TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    created_at     TEXT NOT NULL,
    UNIQUE (service, year, seq)
);
