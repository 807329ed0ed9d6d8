-- Realtime tiles: the last 24 hours of raw events, de-duplicated on event_id.
-- Reads only today's and yesterday's partitions; @since = @now - 24 h always falls in them.
WITH recent AS (
  SELECT
    {{ user_key }} AS user_key,
    -- revenue counts in the reporting currency only; events without a currency are assumed in it
    IF(COALESCE(currency, @currency) = @currency, revenue, 0) AS revenue,
    {{ is_error }} AS is_error
  FROM events
  WHERE DATE(`timestamp`) BETWEEN DATE_SUB(@today, INTERVAL 1 DAY) AND @today
    AND `timestamp` > @since
    AND `timestamp` <= @now
  {{ first_copy }}
)
SELECT
  COUNT(DISTINCT user_key) AS active_users,
  COUNT(*) AS events,
  COALESCE(SUM(revenue), 0) AS revenue,
  COALESCE(SAFE_DIVIDE(COUNTIF(is_error), COUNT(*)), 0) AS error_rate
FROM recent
