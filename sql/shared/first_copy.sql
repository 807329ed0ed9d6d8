-- The de-duplication every read of events makes: of the copies of an event (same event_id,
-- delivered more than once), keep the one loaded first. Used as the QUALIFY clause of a SELECT
-- over events: {{ first_copy }}. A SELECT that derives columns (a JSON value, a flag, a
-- coalesced key) derives them in a subquery below this clause, with event_id and loaded_at,
-- and drops those two above it: DuckDB then sorts the derived values through the window, not the
-- raw columns they come from (the properties JSON above all).
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1
