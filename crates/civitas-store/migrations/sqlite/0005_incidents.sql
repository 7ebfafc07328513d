-- Civitas schema v5: emergency incidents, units, standard operating
-- procedures, and the outbox that integrations (webhooks) deliver from.
--
-- An incident is a place and an emergency, not a person: the caller's name
-- and number are kept for call-back, and a confirmed match or plate hit that
-- opened it is linked, not copied. Every change is a timeline row written in
-- the same transaction as the change and its audit entry.

CREATE TABLE incident (
    id             INTEGER PRIMARY KEY,
    type_id        TEXT    NOT NULL CHECK (length(trim(type_id)) > 0),
    type_label     TEXT    NOT NULL,
    priority       INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
    status         TEXT    NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'dispatched', 'on_scene', 'closed')),
    source         TEXT    NOT NULL CHECK (source IN ('call', 'inbound', 'candidate', 'camera')),
    latitude       REAL    NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude      REAL    NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    address        TEXT    NOT NULL DEFAULT '',
    caller_name    TEXT    NOT NULL DEFAULT '',
    caller_phone   TEXT    NOT NULL DEFAULT '',
    notes          TEXT    NOT NULL DEFAULT '',
    -- The camera it concerns (from a camera or a match); users scoped to other cameras do not see it.
    camera_id      TEXT,
    -- A telephony system's call id: the same call twice opens one incident.
    call_id        TEXT    UNIQUE,
    opened_by      TEXT    NOT NULL,
    opened_at_ms   INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    closed_at_ms   INTEGER,
    close_reason   TEXT CHECK (close_reason IS NULL OR close_reason IN ('resolved', 'false_alarm', 'duplicate', 'cancelled', 'referred')),
    CHECK ((status = 'closed') = (closed_at_ms IS NOT NULL AND close_reason IS NOT NULL))
);
CREATE INDEX incident_open ON incident (status, priority, opened_at_ms);

-- Everything that happened to an incident, in order.
CREATE TABLE incident_event (
    id           INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    at_ms        INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    -- opened, status, unit.assigned, unit.released, sop.tick, note, link, camera.view
    kind         TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    details      TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_event_incident ON incident_event (incident_id, id);

-- What concerns an incident: confirmed candidates (face or plate) and plate reads.
CREATE TABLE incident_link (
    incident_id  INTEGER NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('candidate', 'plate_read')),
    ref_id       INTEGER NOT NULL,
    added_by     TEXT    NOT NULL,
    at_ms        INTEGER NOT NULL,
    PRIMARY KEY (incident_id, kind, ref_id)
);

-- The incident's copy of its type's checklist (so a later change to the
-- procedure does not rewrite what was done), and who ticked each step.
CREATE TABLE incident_sop_step (
    incident_id  INTEGER NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    text         TEXT    NOT NULL,
    ticked_by    TEXT,
    ticked_at_ms INTEGER,
    PRIMARY KEY (incident_id, step)
);

-- Police cars, ambulances, fire engines... declared in the config ([[unit]]).
CREATE TABLE unit (
    id             TEXT    PRIMARY KEY CHECK (length(trim(id)) > 0),
    kind           TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'dispatched', 'on_scene', 'out_of_service')),
    incident_id    INTEGER REFERENCES incident (id),
    latitude       REAL,
    longitude      REAL,
    position_at_ms INTEGER,
    updated_at_ms  INTEGER NOT NULL,
    CHECK ((incident_id IS NULL) = (status IN ('available', 'out_of_service')))
);

-- Events for other systems, written in the same transaction as the change
-- they describe; each destination delivers them in order from its cursor.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    topic         TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE outbox_cursor (
    destination      TEXT    PRIMARY KEY,
    -- The last outbox id this destination acknowledged.
    delivered_through INTEGER NOT NULL,
    delivered_total  INTEGER NOT NULL DEFAULT 0,
    -- Attempts at the next event since its last success, and what went wrong.
    attempts         INTEGER NOT NULL DEFAULT 0,
    retries_total    INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    last_attempt_ms  INTEGER,
    last_success_ms  INTEGER
);
