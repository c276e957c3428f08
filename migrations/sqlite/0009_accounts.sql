-- Accounts with passwords (argon2 PHC strings, never the password) and a mobile number for
-- applicants who sign up on the site; browser sessions, stored as their token's SHA-256.

ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN phone TEXT;

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    created_ms   INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_id);
