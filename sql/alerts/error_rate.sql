-- Events and error events (error_type set, or success = FALSE; see docs/events.md) whose event
-- time lies in [@since, @until), de-duplicated on event_id.
WITH recent AS (
  SELECT error_type, success
  FROM events
  WHERE DATE(`timestamp`) >= DATE(@since)
    AND `timestamp` >= @since
    AND `timestamp` < @until
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1
)
SELECT
  COUNT(*) AS events,
  COUNTIF(error_type IS NOT NULL OR success = FALSE) AS errors
FROM recent
