-- Daily headline figures for [@start_date, @end_date], one row per rolled-up day.
SELECT
  date,
  events,
  active_users,
  wau,
  mau,
  new_users,
  sessions,
  revenue,
  transactions,
  avg_order_value,
  platform_fees,
  avg_rating,
  error_events,
  error_rate,
  api_p50_ms,
  api_p95_ms,
  paying_users,
  conversion_rate,
  currency
FROM daily_kpis
WHERE date BETWEEN @start_date AND @end_date
ORDER BY date
