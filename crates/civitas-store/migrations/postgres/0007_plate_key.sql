-- Civitas schema v7 for PostgreSQL (see migrations/sqlite/0007): the plate
-- with confusable letters folded to digits, for confusion-tolerant search.
-- PostgreSQL 15 has stored generated columns only (SQLite's is virtual).
ALTER TABLE plate_read ADD COLUMN plate_key TEXT GENERATED ALWAYS AS (translate(plate, 'ODQILZSBG', '000112586')) STORED;
CREATE INDEX plate_read_key ON plate_read (plate_key text_pattern_ops, first_seen_ms);
