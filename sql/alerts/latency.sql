-- API latency: the 95th percentile of duration_ms over api_call events in [@since, @until).
WITH calls AS (
  SELECT duration_ms
  FROM events
  WHERE DATE(`timestamp`) >= DATE(@since)
    AND `timestamp` >= @since
    AND `timestamp` < @until
    AND event_type = 'api_call'
    AND duration_ms IS NOT NULL
  {{ first_copy }}
)
SELECT
  COUNT(*) AS calls,
  APPROX_QUANTILES(duration_ms, 100)[OFFSET(95)] AS p95_ms
FROM calls
