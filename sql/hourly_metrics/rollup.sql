-- hourly_metrics for the hours of @start_date..@end_date (UTC days): every hour up to the current
-- one gets a row, zeros when quiet (a missing hour would read as "no data" rather than "no events").
BEGIN TRANSACTION;

DELETE FROM hourly_metrics WHERE DATE(hour) BETWEEN @start_date AND @end_date;

INSERT INTO hourly_metrics (
  hour, events, active_users, errors, revenue, api_p50_ms, api_p95_ms, currency, updated_at
)
WITH hours AS (
  SELECT hour
  FROM UNNEST(GENERATE_TIMESTAMP_ARRAY(
    TIMESTAMP(@start_date), TIMESTAMP_ADD(TIMESTAMP(@end_date), INTERVAL 23 HOUR), INTERVAL 1 HOUR
  )) AS hour
  WHERE hour <= TIMESTAMP_TRUNC(CURRENT_TIMESTAMP(), HOUR)
),
deduped AS (
  SELECT
    TIMESTAMP_TRUNC(`timestamp`, HOUR) AS hour,
    {{ user_key }} AS user_id,
    IF(currency = @reporting_currency, revenue, NULL) AS revenue,
    IF(event_type = 'api_call', duration_ms, NULL) AS api_ms,
    {{ is_error }} AS is_error
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
  {{ first_copy }}
),
per_hour AS (
  SELECT
    hour,
    COUNT(*) AS events,
    COUNT(DISTINCT user_id) AS active_users,
    COUNTIF(is_error) AS errors,
    ROUND(COALESCE(SUM(revenue), 0), 6) AS revenue,  -- rounded so re-runs write identical rows
    APPROX_QUANTILES(api_ms, 100)[OFFSET(50)] AS api_p50_ms,
    APPROX_QUANTILES(api_ms, 100)[OFFSET(95)] AS api_p95_ms
  FROM deduped
  GROUP BY hour
)
SELECT
  hours.hour,
  COALESCE(per_hour.events, 0),
  COALESCE(per_hour.active_users, 0),
  COALESCE(per_hour.errors, 0),
  COALESCE(per_hour.revenue, 0),
  per_hour.api_p50_ms,
  per_hour.api_p95_ms,
  @reporting_currency,
  CURRENT_TIMESTAMP()
FROM hours
LEFT JOIN per_hour ON per_hour.hour = hours.hour;

COMMIT TRANSACTION;
