-- Each issued item of a bundle gets its own record (a registration or enrolment number), numbered
-- like permits: counter and record in one transaction, unique and gap-free per service item and year.

CREATE TABLE item_records (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT NOT NULL REFERENCES applications (id),
    submission_seq INTEGER NOT NULL,
    item           TEXT NOT NULL,
    number         TEXT NOT NULL UNIQUE,
    issued_on      TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    UNIQUE (application_id, item)
);
