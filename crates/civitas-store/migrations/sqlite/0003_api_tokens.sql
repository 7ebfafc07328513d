-- Bearer tokens for machines (Prometheus, integrations) acting as a user.
-- Only the SHA-256 of the token is stored; the token itself is shown once.
-- A token acts with its user's role and scope, and stops working when the
-- user is disabled or the token is revoked. It may be narrowed to some of the
-- user's permissions (`only_json`: a JSON list of names such as
-- ["read_metrics"] for a Prometheus scraper; NULL keeps them all).
CREATE TABLE api_token (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    label         TEXT    NOT NULL CHECK (length(trim(label)) > 0),
    token_sha256  BLOB    NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    only_json     TEXT,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
