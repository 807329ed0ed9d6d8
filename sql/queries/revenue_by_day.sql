-- Money per day in the reporting currency, summed over platforms.
-- paying_users adds up the per-platform counts, so a user paying on two platforms counts twice.
SELECT
  date,
  SUM(revenue) AS revenue,
  SUM(transactions) AS transactions,
  SUM(refunds) AS refunds,
  SUM(refunded) AS refunded,
  SUM(paying_users) AS paying_users,
  SUM(platform_fees) AS platform_fees
FROM revenue_daily
WHERE date BETWEEN @start_date AND @end_date
  AND currency = @currency
GROUP BY date
ORDER BY date
