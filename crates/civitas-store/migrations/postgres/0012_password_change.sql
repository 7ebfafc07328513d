-- Civitas schema v12 for PostgreSQL (see migrations/sqlite/0012).
ALTER TABLE app_user ADD COLUMN password_changed_at_ms BIGINT;
