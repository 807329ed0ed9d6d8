-- Hourly metrics for the hours starting in [@start_hour, @end_hour]; the date bounds are the
-- same window in days, so BigQuery reads only those partitions.
SELECT
  hour,
  events,
  active_users,
  errors,
  SAFE_DIVIDE(errors, events) AS error_rate,
  revenue,
  api_p50_ms,
  api_p95_ms
FROM hourly_metrics
WHERE DATE(hour) BETWEEN @start_date AND @end_date
  AND hour BETWEEN @start_hour AND @end_hour
ORDER BY hour
