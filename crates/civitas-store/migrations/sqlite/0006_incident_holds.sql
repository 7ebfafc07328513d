-- Civitas schema v6: legal holds may also cover an incident (`incident:N`),
-- which retention otherwise deletes a while after it closes
-- ([retention] closed_incidents_days). SQLite cannot change a CHECK in
-- place, so the table is rebuilt with the same rows.

CREATE TABLE legal_hold_v6 (
    id            INTEGER PRIMARY KEY,
    target        TEXT    NOT NULL CHECK (target GLOB 'candidate:[0-9]*' OR target GLOB 'entry:[0-9]*' OR target GLOB 'incident:[0-9]*'),
    reason        TEXT    NOT NULL CHECK (length(trim(reason)) > 0),
    placed_by     TEXT    NOT NULL,
    placed_at_ms  INTEGER NOT NULL,
    lifted_by     TEXT,
    lifted_at_ms  INTEGER
);
INSERT INTO legal_hold_v6 (id, target, reason, placed_by, placed_at_ms, lifted_by, lifted_at_ms)
    SELECT id, target, reason, placed_by, placed_at_ms, lifted_by, lifted_at_ms FROM legal_hold;
DROP TABLE legal_hold;
ALTER TABLE legal_hold_v6 RENAME TO legal_hold;
CREATE INDEX legal_hold_target ON legal_hold (target);
