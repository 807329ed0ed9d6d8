-- Events and error events (error_type set, or success = FALSE; see docs/events.md) whose event
-- time lies in [@since, @until), de-duplicated on event_id.
WITH recent AS (
  SELECT error_type, success
  FROM events
  WHERE DATE(`timestamp`) >= DATE(@since)
    AND `timestamp` >= @since
    AND `timestamp` < @until
  {{ first_copy }}
)
SELECT
  COUNT(*) AS events,
  COUNTIF({{ is_error }}) AS errors
FROM recent
