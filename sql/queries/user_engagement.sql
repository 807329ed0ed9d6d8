-- One user's activity in [@start_date, @end_date] for the engagement score.
-- A user is COALESCE(user_id, anonymous_id), as everywhere; events de-duplicated on event_id.
WITH activity AS (
  SELECT
    session_id,
    `timestamp` AS ts,
    IF(COALESCE(currency, @currency) = @currency, revenue, 0) AS revenue
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
    AND (user_id = @user_id OR (user_id IS NULL AND anonymous_id = @user_id))
  {{ first_copy }}
)
SELECT
  COUNT(*) AS events,
  COUNT(DISTINCT session_id) AS sessions,
  COUNT(DISTINCT DATE(ts)) AS active_days,
  COALESCE(SUM(revenue), 0) AS revenue,
  MAX(ts) AS last_seen,
  DATE_DIFF(@end_date, DATE(MAX(ts)), DAY) AS days_since_last_seen
FROM activity
