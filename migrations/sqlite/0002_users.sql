-- Accounts and application ownership. Tokens are stored only as their SHA-256.

CREATE TABLE users (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('applicant', 'reviewer', 'auditor', 'admin')),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL
);

ALTER TABLE applications ADD COLUMN owner_id INTEGER REFERENCES users (id);
