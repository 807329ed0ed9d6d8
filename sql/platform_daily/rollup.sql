-- platform_daily for @start_date..@end_date (UTC days); a platform without events has no row.
BEGIN TRANSACTION;

DELETE FROM platform_daily WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO platform_daily (
  date, platform, users, events, error_events, success_rate, api_p50_ms, api_p95_ms, updated_at
)
WITH deduped AS (
  SELECT
    DATE(`timestamp`) AS date,
    COALESCE(platform, 'unknown') AS platform,
    {{ user_key }} AS user_id,
    IF(event_type = 'api_call', duration_ms, NULL) AS api_ms,
    {{ is_error }} AS is_error
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
  {{ first_copy }}
)
SELECT
  date,
  platform,
  COUNT(DISTINCT user_id),
  COUNT(*),
  COUNTIF(is_error),
  1 - COUNTIF(is_error) / COUNT(*),
  APPROX_QUANTILES(api_ms, 100)[OFFSET(50)],
  APPROX_QUANTILES(api_ms, 100)[OFFSET(95)],
  CURRENT_TIMESTAMP()
FROM deduped
GROUP BY date, platform;

COMMIT TRANSACTION;
