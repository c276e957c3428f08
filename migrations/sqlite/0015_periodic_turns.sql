-- Periodic tasks (the deadline sweep, checkpoint signing) run once per period across every
-- instance on the database: the instance that moves a task's row forward takes the turn.
CREATE TABLE periodic_turns (
    task       TEXT PRIMARY KEY,
    last_ms    INTEGER NOT NULL
);
