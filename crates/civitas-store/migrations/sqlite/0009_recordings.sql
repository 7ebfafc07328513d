-- Civitas schema v9: the index of recorded video. The files themselves live
-- in [recording] dir (one folder per camera); a row per file says what it
-- covers and what became of it. Rows outlive deleted files (state
-- `deleted`, with when and why), so a search result whose clip retention
-- removed says so instead of failing obscurely.

CREATE TABLE recording (
    id             INTEGER PRIMARY KEY,
    camera_id      TEXT    NOT NULL,
    -- Relative to the recordings directory: CAMERA/START-KIND.mp4
    path           TEXT    NOT NULL UNIQUE,
    kind           TEXT    NOT NULL CHECK (kind IN ('event', 'continuous')),
    start_ms       INTEGER NOT NULL,
    end_ms         INTEGER NOT NULL,
    bytes          INTEGER NOT NULL DEFAULT 0,
    state          TEXT    NOT NULL CHECK (state IN ('recording', 'complete', 'recovered', 'lost', 'deleted')),
    -- What recovery or a failure found, in words.
    note           TEXT,
    deleted_at_ms  INTEGER,
    deleted_reason TEXT
);
CREATE INDEX recording_camera_time ON recording (camera_id, start_ms);

-- Legal holds may also cover a recording (`recording:N`).
CREATE TABLE legal_hold_v9 (
    id            INTEGER PRIMARY KEY,
    target        TEXT    NOT NULL CHECK (target GLOB 'candidate:[0-9]*' OR target GLOB 'entry:[0-9]*' OR target GLOB 'incident:[0-9]*' OR target GLOB 'recording:[0-9]*'),
    reason        TEXT    NOT NULL CHECK (length(trim(reason)) > 0),
    placed_by     TEXT    NOT NULL,
    placed_at_ms  INTEGER NOT NULL,
    lifted_by     TEXT,
    lifted_at_ms  INTEGER
);
INSERT INTO legal_hold_v9 (id, target, reason, placed_by, placed_at_ms, lifted_by, lifted_at_ms)
    SELECT id, target, reason, placed_by, placed_at_ms, lifted_by, lifted_at_ms FROM legal_hold;
DROP TABLE legal_hold;
ALTER TABLE legal_hold_v9 RENAME TO legal_hold;
CREATE INDEX legal_hold_target ON legal_hold (target);
