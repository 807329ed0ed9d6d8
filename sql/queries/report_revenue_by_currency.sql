-- Money per currency over [@start_date, @end_date] and the period before it
-- [@previous_start, @previous_end]; currencies are never mixed or converted.
SELECT
  currency,
  SUM(IF(date >= @start_date, revenue, 0)) AS revenue,
  SUM(IF(date >= @start_date, transactions, 0)) AS transactions,
  SUM(IF(date < @start_date, revenue, 0)) AS previous_revenue
FROM revenue_daily
WHERE date BETWEEN @previous_start AND @end_date
GROUP BY currency
ORDER BY revenue DESC, currency
