-- Civitas schema v6 for PostgreSQL (see migrations/sqlite/0006): holds may name incidents.
ALTER TABLE legal_hold DROP CONSTRAINT legal_hold_target_check,
    ADD CONSTRAINT legal_hold_target_check CHECK (target ~ '^(candidate|entry|incident):[0-9]');
