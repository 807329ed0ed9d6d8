-- revenue_daily for @start_date..@end_date (UTC days): every currency as sent, no conversion.
-- Only events with money appear, so a quiet day has no row (the panel sums what is there).
BEGIN TRANSACTION;

DELETE FROM revenue_daily WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO revenue_daily (
  date, currency, platform, revenue, transactions, refunds, refunded, paying_users,
  platform_fees, updated_at
)
WITH deduped AS (
  SELECT
    DATE(`timestamp`) AS date,
    COALESCE(currency, 'unknown') AS currency,
    COALESCE(platform, 'unknown') AS platform,
    {{ user_key }} AS user_id,
    revenue,
    SAFE_CAST(JSON_VALUE(properties, '$.platform_fee') AS FLOAT64) AS platform_fee
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
    AND revenue IS NOT NULL
    AND revenue != 0
  {{ first_copy }}
)
SELECT
  date,
  currency,
  platform,
  -- Rounded: float sums differ in their last bits with summation order, and a re-run must write
  -- identical rows. Six decimals keep every cent.
  ROUND(SUM(revenue), 6),
  COUNTIF(revenue > 0),
  COUNTIF(revenue < 0),
  ROUND(SUM(IF(revenue < 0, -revenue, 0)), 6),
  COUNT(DISTINCT IF(revenue > 0, user_id, NULL)),
  ROUND(COALESCE(SUM(IF(revenue > 0, platform_fee, NULL)), 0), 6),
  CURRENT_TIMESTAMP()
FROM deduped
GROUP BY date, currency, platform;

COMMIT TRANSACTION;
