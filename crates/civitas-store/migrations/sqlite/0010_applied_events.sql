-- Civitas schema v10: idempotent writes. Workers publish their results on a
-- bus that delivers at least once (NATS JetStream redelivers what was not
-- acknowledged; a camera taken over by another worker may be replayed), so
-- the store writer records the stable key of every result it has applied, in
-- the same transaction as the result itself. A result whose key is here is
-- not applied again: no second candidate, no second audit entry.
--
-- key: "candidate/{camera}/{frame_time_ms}/{entry}/{track}" for a face
-- candidate, "plate/{camera}/{first_seen_ms}/{pass}" for a plate pass.
-- result_json: what the first application returned ({"candidate": id|null,
-- "plate_read": id|null}), so a repeat answers the same.
CREATE TABLE applied_event (
    key          TEXT    PRIMARY KEY,
    result_json  TEXT    NOT NULL,
    at_ms        INTEGER NOT NULL
);
CREATE INDEX applied_event_time ON applied_event (at_ms);
