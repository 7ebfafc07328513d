-- Civitas schema v2: accountability. Users and roles, human review of
-- candidates, legal-basis scope and refusal, legal holds, and the
-- tamper-evident audit log (RFC 9162 Merkle tree with signed tree heads).

-- Users. Passwords are Argon2id PHC strings; roles are fixed (see civitas-auth).
CREATE TABLE app_user (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE CHECK (length(trim(username)) > 0),
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('operator', 'supervisor', 'auditor', 'administrator')),
    -- JSON list of camera ids the user may act on; ["*"] for all.
    scope_json    TEXT    NOT NULL DEFAULT '["*"]',
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL
);

-- Where a legal basis applies (camera ids, ["*"] for all) and whether the
-- authorisation was refused after urgent use (everything derived is deleted).
ALTER TABLE legal_basis ADD COLUMN scope_json TEXT NOT NULL DEFAULT '["*"]';
ALTER TABLE legal_basis ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'refused'));
ALTER TABLE legal_basis ADD COLUMN refused_at_ms INTEGER;

-- Face candidates need two different confirmers, plate candidates one.
ALTER TABLE candidate ADD COLUMN kind TEXT NOT NULL DEFAULT 'face' CHECK (kind IN ('face', 'plate'));
ALTER TABLE candidate ADD COLUMN decided_at_ms INTEGER;

-- Each reviewer's decision on a candidate; one per person per candidate.
CREATE TABLE candidate_review (
    id           INTEGER PRIMARY KEY,
    candidate_id INTEGER NOT NULL REFERENCES candidate (id) ON DELETE CASCADE,
    username     TEXT    NOT NULL,
    decision     TEXT    NOT NULL CHECK (decision IN ('confirm', 'reject')),
    reason       TEXT    NOT NULL DEFAULT '',
    at_ms        INTEGER NOT NULL,
    UNIQUE (candidate_id, username)
);

-- A legal hold suspends retention deletion of its target until lifted.
CREATE TABLE legal_hold (
    id            INTEGER PRIMARY KEY,
    target        TEXT    NOT NULL CHECK (target GLOB 'candidate:[0-9]*' OR target GLOB 'entry:[0-9]*'),
    reason        TEXT    NOT NULL CHECK (length(trim(reason)) > 0),
    placed_by     TEXT    NOT NULL,
    placed_at_ms  INTEGER NOT NULL,
    lifted_by     TEXT,
    lifted_at_ms  INTEGER
);
CREATE INDEX legal_hold_target ON legal_hold (target);

-- The audit log: append-only, one row per action, seq = leaf index from 0.
-- leaf_hash = SHA-256(0x00 || canonical encoding of the row) (civitas-audit).
CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY,
    at_ms         INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    justification TEXT    NOT NULL,
    details       TEXT    NOT NULL,
    leaf_hash     BLOB    NOT NULL
);
CREATE INDEX audit_log_action ON audit_log (action, at_ms);

-- A signed tree head after every append transaction.
CREATE TABLE audit_tree_head (
    tree_size  INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    root       BLOB    NOT NULL,
    signature  BLOB    NOT NULL,
    public_key BLOB    NOT NULL
);

-- The tree's right edge (its frontier: one hash per perfect subtree), so an
-- append needs no re-read of the log. One row. Not trusted by verification,
-- which rebuilds the tree from the entries.
CREATE TABLE audit_frontier (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    tree_size INTEGER NOT NULL,
    frontier  BLOB    NOT NULL
);
