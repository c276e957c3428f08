-- A reviewer's corrections of fields read by the machine. The original reading stays in the
-- machine's decision; each correction keeps the value it replaced and the re-run it led to.

CREATE TABLE corrections (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT NOT NULL REFERENCES applications (id),
    submission_seq INTEGER NOT NULL,
    reviewer_id    INTEGER NOT NULL REFERENCES users (id),
    field          TEXT NOT NULL,
    original       TEXT NOT NULL,
    corrected      TEXT NOT NULL,
    reason         TEXT NOT NULL,
    decision_after TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX corrections_by_application ON corrections (application_id, id);
