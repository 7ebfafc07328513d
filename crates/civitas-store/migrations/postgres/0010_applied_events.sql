-- Civitas schema v10 for PostgreSQL (see migrations/sqlite/0010): the
-- stable keys of applied results, for idempotent writes.
CREATE TABLE applied_event (
    key          TEXT    PRIMARY KEY,
    result_json  TEXT    NOT NULL,
    at_ms        BIGINT  NOT NULL
);
CREATE INDEX applied_event_time ON applied_event (at_ms);
