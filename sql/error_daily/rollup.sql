-- error_daily for @start_date..@end_date (UTC days): error events (error_type set or
-- success = FALSE) by type; a day without errors has no row.
BEGIN TRANSACTION;

DELETE FROM error_daily WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO error_daily (date, error_type, events, affected_users, updated_at)
WITH errors AS (
  SELECT
    DATE(`timestamp`) AS date,
    COALESCE(error_type, 'unknown') AS error_type,
    {{ user_key }} AS user_id
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
    AND {{ is_error }}
  {{ first_copy }}
)
SELECT date, error_type, COUNT(*), COUNT(DISTINCT user_id), CURRENT_TIMESTAMP()
FROM errors
GROUP BY date, error_type;

COMMIT TRANSACTION;
