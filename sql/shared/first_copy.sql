-- The de-duplication every read of events makes: of the copies of an event (same event_id,
-- delivered more than once), keep the one loaded first. Used as the QUALIFY clause of a SELECT
-- over events: {{ first_copy }}. On DuckDB the translation (functions/local/translate.py,
-- _first_copy_below) derives such a SELECT's columns in a subquery below this clause, so that
-- the window carries the derived values, not the raw columns they come from.
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1
