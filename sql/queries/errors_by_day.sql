-- Error events per day over [@start_date, @end_date], for the errors trend.
SELECT
  date,
  SUM(events) AS events
FROM error_daily
WHERE date BETWEEN @start_date AND @end_date
GROUP BY date
ORDER BY date
