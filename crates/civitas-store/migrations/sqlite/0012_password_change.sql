-- When a user's password was last changed or reset: a console session
-- started before it ends (a stolen session does not outlive the password).
ALTER TABLE app_user ADD COLUMN password_changed_at_ms INTEGER;
