-- Error types over [@start_date, @end_date] against [@previous_start, @previous_end], those that
-- grew most first (a new type grows by all its events).
SELECT
  error_type,
  SUM(IF(date >= @start_date, events, 0)) AS events,
  SUM(IF(date < @start_date, events, 0)) AS previous_events,
  SUM(IF(date >= @start_date, events, 0)) - SUM(IF(date < @start_date, events, 0)) AS growth
FROM error_daily
WHERE date BETWEEN @previous_start AND @end_date
GROUP BY error_type
HAVING SUM(IF(date >= @start_date, events, 0)) > SUM(IF(date < @start_date, events, 0))
ORDER BY growth DESC, error_type
LIMIT @limit
