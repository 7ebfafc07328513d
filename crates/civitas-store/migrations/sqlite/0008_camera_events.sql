-- Civitas schema v8: camera events, for forensic search by type ("when was
-- the gate camera offline last night?"). A camera's health changes and its
-- stop, with the error in words; nothing about people. Deleted after
-- [retention] camera_events_days.
CREATE TABLE camera_event (
    id         INTEGER PRIMARY KEY,
    camera_id  TEXT    NOT NULL,
    -- connecting, online, degraded, offline, stopped, failed
    kind       TEXT    NOT NULL CHECK (kind IN ('connecting', 'online', 'degraded', 'offline', 'stopped', 'failed')),
    detail     TEXT    NOT NULL DEFAULT '',
    at_ms      INTEGER NOT NULL
);
CREATE INDEX camera_event_kind ON camera_event (kind, at_ms);
CREATE INDEX camera_event_time ON camera_event (at_ms);
