-- error_daily for @start_date..@end_date (UTC days): error events (error_type set or
-- success = FALSE) by type; a day without errors has no row.
BEGIN TRANSACTION;

DELETE FROM error_daily WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO error_daily (date, error_type, events, affected_users, updated_at)
WITH errors AS (
  SELECT
    DATE(`timestamp`) AS date,
    COALESCE(error_type, 'unknown') AS error_type,
    COALESCE(user_id, anonymous_id) AS user_id
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
    AND (error_type IS NOT NULL OR success IS FALSE)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1
)
SELECT date, error_type, COUNT(*), COUNT(DISTINCT user_id), CURRENT_TIMESTAMP()
FROM errors
GROUP BY date, error_type;

COMMIT TRANSACTION;
