-- Civitas schema v7: plate searches by index. `plate_key` is the plate with
-- each class of characters OCR confuses written as one character (0/O/D/Q
-- as 0, 1/I/L as 1, 2/Z as 2, 5/S as 5, 8/B as 8, 6/G as 6; the classes of
-- `civitas_model::plate_text::CONFUSABLE_CLASSES`), so a search for
-- `6YE0O77` is the exact lookup `6YE0077`, and a partial plate with known
-- first characters (`GY?0?77` → `6Y?0?77`) a range of the index instead of
-- a scan of every read in the window. A virtual column: computed, not stored.
ALTER TABLE plate_read ADD COLUMN plate_key TEXT GENERATED ALWAYS AS (
    replace(replace(replace(replace(replace(replace(replace(replace(replace(
        plate, 'O', '0'), 'D', '0'), 'Q', '0'), 'I', '1'), 'L', '1'), 'Z', '2'), 'S', '5'), 'B', '8'), 'G', '6')
) VIRTUAL;
CREATE INDEX plate_read_key ON plate_read (plate_key, first_seen_ms);
