-- 好差评: one rating per decided case, the work order a bad rating opens, and its steps; the day a
-- case was decided (by the machine or a person), in the service's own calendar, for the figures.

ALTER TABLE applications ADD COLUMN decided_on TEXT;

CREATE TABLE ratings (
    application_id TEXT PRIMARY KEY REFERENCES applications (id),
    rater_id       INTEGER NOT NULL REFERENCES users (id),
    level          INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    aspects        TEXT NOT NULL,
    comment        TEXT NOT NULL,
    rated_state    TEXT NOT NULL,
    handled_by     INTEGER REFERENCES users (id),
    rated_on       TEXT NOT NULL,
    removed_reason TEXT,
    created_at     TEXT NOT NULL
);

CREATE TABLE work_orders (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT NOT NULL UNIQUE REFERENCES ratings (application_id),
    level          INTEGER NOT NULL,
    state          TEXT NOT NULL,
    assignee_id    INTEGER REFERENCES users (id),
    opened_on      TEXT NOT NULL,
    due_on         TEXT NOT NULL,
    escalated_on   TEXT,
    rectified      INTEGER NOT NULL DEFAULT 0,
    called_back    INTEGER NOT NULL DEFAULT 0,
    grade          TEXT,
    updated_at     TEXT NOT NULL
);
CREATE INDEX work_orders_by_state ON work_orders (state, due_on);

CREATE TABLE work_order_steps (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    work_order_id INTEGER NOT NULL REFERENCES work_orders (id),
    step          TEXT NOT NULL,
    actor_id      INTEGER REFERENCES users (id),
    actor         TEXT NOT NULL,
    on_date       TEXT NOT NULL,
    text          TEXT NOT NULL,
    details       TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX work_order_steps_by_order ON work_order_steps (work_order_id, id);
