-- Platform comparison over [@start_date, @end_date].
-- avg_daily_users is user-days / days in the window (distinct users per day, averaged);
-- latencies average the daily approximate percentiles, weighted by each day's events.
SELECT
  platform,
  SUM(events) AS events,
  SUM(error_events) AS error_events,
  1 - SAFE_DIVIDE(SUM(error_events), SUM(events)) AS success_rate,
  SUM(users) / @days AS avg_daily_users,
  SAFE_DIVIDE(SUM(api_p50_ms * events), SUM(IF(api_p50_ms IS NULL, 0, events))) AS api_p50_ms,
  SAFE_DIVIDE(SUM(api_p95_ms * events), SUM(IF(api_p95_ms IS NULL, 0, events))) AS api_p95_ms
FROM platform_daily
WHERE date BETWEEN @start_date AND @end_date
GROUP BY platform
ORDER BY events DESC, platform
