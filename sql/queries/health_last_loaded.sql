-- When the load last made an event queryable, from the events of the last three days by event
-- time (today's and the two before: cheap, and a pipeline that loaded nothing for that long
-- answers NULL, which reads as stale). Copies of an event change no maximum.
SELECT
  MAX(loaded_at) AS last_loaded_at,
  MAX(received_at) AS last_received_at
FROM events
WHERE DATE(`timestamp`) >= DATE_SUB(@today, INTERVAL 2 DAY)
