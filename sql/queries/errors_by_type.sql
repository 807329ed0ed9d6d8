-- Error types over [@start_date, @end_date], most frequent first.
-- affected_user_days adds each day's distinct users, so a user failing on two days counts twice.
SELECT
  error_type,
  SUM(events) AS events,
  SUM(affected_users) AS affected_user_days,
  COUNT(DISTINCT date) AS days_seen,
  MAX(date) AS last_seen
FROM error_daily
WHERE date BETWEEN @start_date AND @end_date
GROUP BY error_type
ORDER BY events DESC, error_type
LIMIT @limit
