-- Money per currency and platform over [@start_date, @end_date]; currencies are never mixed.
SELECT
  currency,
  platform,
  SUM(revenue) AS revenue,
  SUM(transactions) AS transactions,
  SUM(refunds) AS refunds,
  SUM(refunded) AS refunded,
  SUM(platform_fees) AS platform_fees
FROM revenue_daily
WHERE date BETWEEN @start_date AND @end_date
GROUP BY currency, platform
ORDER BY currency, revenue DESC, platform
