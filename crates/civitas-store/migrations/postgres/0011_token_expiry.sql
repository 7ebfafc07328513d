-- Civitas schema v11 for PostgreSQL (see migrations/sqlite/0011).
ALTER TABLE api_token ADD COLUMN expires_at_ms BIGINT;
UPDATE api_token SET expires_at_ms = created_at_ms + 31536000000;
