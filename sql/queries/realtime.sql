-- Realtime tiles: the last 24 hours of raw events, de-duplicated on event_id.
-- Reads only today's and yesterday's partitions; @since = @now - 24 h always falls in them.
WITH recent AS (
  SELECT
    COALESCE(user_id, anonymous_id) AS user_key,
    -- revenue counts in the reporting currency only; events without a currency are assumed in it
    IF(COALESCE(currency, @currency) = @currency, revenue, 0) AS revenue,
    (error_type IS NOT NULL OR COALESCE(success, TRUE) = FALSE) AS is_error
  FROM events
  WHERE DATE(`timestamp`) BETWEEN DATE_SUB(@today, INTERVAL 1 DAY) AND @today
    AND `timestamp` > @since
    AND `timestamp` <= @now
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1
)
SELECT
  COUNT(DISTINCT user_key) AS active_users,
  COUNT(*) AS events,
  COALESCE(SUM(revenue), 0) AS revenue,
  COALESCE(SAFE_DIVIDE(COUNTIF(is_error), COUNT(*)), 0) AS error_rate
FROM recent
