-- Civitas schema v4: number plates.
--
-- A hotlist is a named list with its own match threshold. A hotlist entry is
-- a watchlist entry that carries a plate instead of face templates, so it
-- shares everything the accountability core gives entries: a legal basis
-- with expiry and camera scope, refusal, legal holds (`entry:N`), retention.
-- A plate read is one vehicle pass on one camera: the plate, the best crop of
-- the plate, where and when, the hotlist hit if any, and the time it must be
-- deleted by (short for reads with no hit). No faces, no people.

CREATE TABLE hotlist (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    -- Largest weighted edit distance (OCR confusions cost 0.25, other edits 1) that is a hit.
    max_distance  REAL    NOT NULL CHECK (max_distance >= 0 AND max_distance <= 2),
    created_by    TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

ALTER TABLE watchlist_entry ADD COLUMN hotlist_id INTEGER REFERENCES hotlist (id);
-- Normalised plate (A-Z, 0-9); NULL for a person.
ALTER TABLE watchlist_entry ADD COLUMN plate TEXT CHECK (plate IS NULL OR (length(plate) BETWEEN 1 AND 12 AND plate NOT GLOB '*[^A-Z0-9]*'));
CREATE INDEX watchlist_entry_plate ON watchlist_entry (plate);

CREATE TABLE plate_read (
    id             INTEGER PRIMARY KEY,
    camera_id      TEXT    NOT NULL,
    pass_id        INTEGER NOT NULL,
    plate          TEXT    NOT NULL CHECK (length(plate) BETWEEN 1 AND 12 AND plate NOT GLOB '*[^A-Z0-9]*'),
    format         TEXT,
    confidence     REAL    NOT NULL,
    -- Frames whose reads were voted into this one.
    frames         INTEGER NOT NULL,
    bbox_json      TEXT    NOT NULL,
    crop_jpeg      BLOB,
    first_seen_ms  INTEGER NOT NULL,
    last_seen_ms   INTEGER NOT NULL,
    hit_entry_id   INTEGER REFERENCES watchlist_entry (id) ON DELETE SET NULL,
    hit_distance   REAL,
    expires_at_ms  INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL
);
CREATE INDEX plate_read_plate ON plate_read (plate);
CREATE INDEX plate_read_time ON plate_read (first_seen_ms);
CREATE INDEX plate_read_expiry ON plate_read (expires_at_ms);

-- A plate candidate points at the read that raised it and keeps the text read.
ALTER TABLE candidate ADD COLUMN plate_read_id INTEGER REFERENCES plate_read (id) ON DELETE SET NULL;
ALTER TABLE candidate ADD COLUMN read_text TEXT;
