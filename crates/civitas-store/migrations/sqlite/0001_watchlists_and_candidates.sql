-- Civitas schema v1: legal bases, face watchlist entries with their enrolled
-- templates, and candidate matches awaiting human review.
--
-- What is NOT here, on purpose: no table or column for a face template of
-- anyone not enrolled (probe templates live in memory only), no column for any
-- sensitive attribute, no geofence of people. Times are Unix milliseconds UTC.

-- Why an entry may exist at all. Every watchlist entry points at one.
CREATE TABLE legal_basis (
    id            INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (length(trim(kind)) > 0),
    authority     TEXT    NOT NULL CHECK (length(trim(authority)) > 0),
    reference     TEXT    NOT NULL CHECK (length(trim(reference)) > 0),
    purpose       TEXT    NOT NULL CHECK (length(trim(purpose)) > 0),
    granted_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL CHECK (expires_at_ms > granted_at_ms),
    entered_by    TEXT    NOT NULL
);

-- One enrolled person under one legal basis.
CREATE TABLE watchlist_entry (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    legal_basis_id INTEGER NOT NULL REFERENCES legal_basis (id) ON DELETE CASCADE,
    created_at_ms  INTEGER NOT NULL,
    -- JPEG of the best enrolment face crop, shown to reviewers beside the probe.
    photo_jpeg     BLOB
);

-- Enrolled templates (one per enrolment photo): little-endian f32, L2-normalised.
CREATE TABLE entry_template (
    id           INTEGER PRIMARY KEY,
    entry_id     INTEGER NOT NULL REFERENCES watchlist_entry (id) ON DELETE CASCADE,
    source_photo TEXT    NOT NULL,
    template     BLOB    NOT NULL
);
CREATE INDEX entry_template_entry ON entry_template (entry_id);

-- A candidate match: awaiting human review. Holds the probe's face crop (the
-- evidence a reviewer needs), never the probe's template.
CREATE TABLE candidate (
    id             INTEGER PRIMARY KEY,
    camera_id      TEXT    NOT NULL,
    track_id       INTEGER NOT NULL,
    entry_id       INTEGER NOT NULL REFERENCES watchlist_entry (id) ON DELETE CASCADE,
    distance       REAL    NOT NULL,
    detector_score REAL    NOT NULL,
    bbox_json      TEXT    NOT NULL,
    frame_time_ms  INTEGER NOT NULL,
    offset_ms      INTEGER NOT NULL,
    crop_jpeg      BLOB,
    status         TEXT    NOT NULL DEFAULT 'candidate'
                   CHECK (status IN ('candidate', 'confirmed', 'rejected', 'expired')),
    created_at_ms  INTEGER NOT NULL
);
CREATE INDEX candidate_time ON candidate (frame_time_ms);
