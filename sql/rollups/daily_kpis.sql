-- daily_kpis for @start_date..@end_date (UTC days): every day of the range up to today gets a row,
-- zeros on a quiet day, so charts and baselines see no gaps. Needs user_first_seen for the range.
-- Reads the 27 days before @start_date too, user columns only: MAU counts 28 days.
BEGIN TRANSACTION;

DELETE FROM daily_kpis WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO daily_kpis (
  date, events, active_users, wau, mau, new_users, sessions, revenue, transactions,
  avg_order_value, platform_fees, avg_rating, error_events, error_rate, api_p50_ms, api_p95_ms,
  paying_users, conversion_rate, currency, updated_at
)
WITH days AS (
  SELECT date
  FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, LEAST(@end_date, CURRENT_DATE()))) AS date
),
deduped AS (
  SELECT
    DATE(`timestamp`) AS date,
    COALESCE(user_id, anonymous_id) AS user_id,
    event_type,
    session_id,
    -- Money in another currency cannot be added up: it counts in revenue_daily only.
    IF(currency = @reporting_currency, revenue, NULL) AS revenue,
    -- JSON is parsed only for the events whose property counts: far fewer rows to parse.
    IF(revenue > 0, SAFE_CAST(JSON_VALUE(properties, '$.platform_fee') AS FLOAT64), NULL)
      AS platform_fee,
    IF(event_type = 'review', SAFE_CAST(JSON_VALUE(properties, '$.rating') AS FLOAT64), NULL)
      AS rating,
    duration_ms,
    error_type IS NOT NULL OR success IS FALSE AS is_error
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1
),
per_day AS (
  SELECT
    date,
    COUNT(*) AS events,
    COUNT(DISTINCT user_id) AS active_users,
    COUNT(DISTINCT session_id) AS sessions,
    -- Rounded: float sums differ in their last bits with summation order, and a re-run must
    -- write identical rows. Six decimals keep every cent.
    ROUND(COALESCE(SUM(revenue), 0), 6) AS revenue,
    COUNTIF(revenue > 0) AS transactions,
    SUM(IF(revenue > 0, revenue, NULL)) AS gross_revenue,
    ROUND(COALESCE(SUM(IF(revenue > 0, platform_fee, NULL)), 0), 6) AS platform_fees,
    AVG(IF(event_type = 'review', rating, NULL)) AS avg_rating,
    COUNTIF(is_error) AS error_events,
    APPROX_QUANTILES(IF(event_type = 'api_call', duration_ms, NULL), 100)[OFFSET(50)] AS api_p50_ms,
    APPROX_QUANTILES(IF(event_type = 'api_call', duration_ms, NULL), 100)[OFFSET(95)] AS api_p95_ms,
    COUNT(DISTINCT IF(revenue > 0, user_id, NULL)) AS paying_users
  FROM deduped
  GROUP BY date
),
user_days AS (
  -- Distinct (day, user) pairs: copies of an event change none, so no de-duplication is needed.
  SELECT DISTINCT DATE(`timestamp`) AS date, COALESCE(user_id, anonymous_id) AS user_id
  FROM events
  WHERE DATE(`timestamp`) BETWEEN DATE_SUB(@start_date, INTERVAL 27 DAY) AND @end_date
    AND COALESCE(user_id, anonymous_id) IS NOT NULL
),
rolling AS (
  SELECT
    days.date,
    COUNT(DISTINCT IF(user_days.date > DATE_SUB(days.date, INTERVAL 7 DAY), user_days.user_id, NULL)) AS wau,
    COUNT(DISTINCT user_days.user_id) AS mau
  FROM days
  JOIN user_days
    ON user_days.date BETWEEN DATE_SUB(days.date, INTERVAL 27 DAY) AND days.date
  GROUP BY days.date
),
new_users AS (
  SELECT first_seen_date AS date, COUNT(*) AS new_users
  FROM user_first_seen
  WHERE first_seen_date BETWEEN @start_date AND @end_date
  GROUP BY first_seen_date
)
SELECT
  days.date,
  COALESCE(per_day.events, 0),
  COALESCE(per_day.active_users, 0),
  COALESCE(rolling.wau, 0),
  COALESCE(rolling.mau, 0),
  COALESCE(new_users.new_users, 0),
  COALESCE(per_day.sessions, 0),
  COALESCE(per_day.revenue, 0),
  COALESCE(per_day.transactions, 0),
  ROUND(SAFE_DIVIDE(per_day.gross_revenue, per_day.transactions), 6),
  COALESCE(per_day.platform_fees, 0),
  per_day.avg_rating,
  COALESCE(per_day.error_events, 0),
  SAFE_DIVIDE(per_day.error_events, per_day.events),
  per_day.api_p50_ms,
  per_day.api_p95_ms,
  COALESCE(per_day.paying_users, 0),
  SAFE_DIVIDE(per_day.paying_users, per_day.active_users),
  @reporting_currency,
  CURRENT_TIMESTAMP()
FROM days
LEFT JOIN per_day ON per_day.date = days.date
LEFT JOIN rolling ON rolling.date = days.date
LEFT JOIN new_users ON new_users.date = days.date;

COMMIT TRANSACTION;
