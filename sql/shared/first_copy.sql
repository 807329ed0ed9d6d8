-- The de-duplication every read of events makes: of the copies of an event (same event_id,
-- delivered more than once), keep the one loaded first. Used as the QUALIFY clause of a SELECT
-- over events: {{ first_copy }}.
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1
