-- daily_kpis for @start_date..@end_date (UTC days): every day of the range up to today gets a row,
-- zeros on a quiet day, so charts and baselines see no gaps. Needs user_first_seen for the range,
-- and user_days for the 27 days before @start_date (MAU counts 28 days): no raw events of them.
--
-- Copies of an event (same event_id) count once, on the day of the copy loaded first, as long as
-- every copy's timestamp lies in the range. Known gap: copies whose timestamps fall on different
-- days (a retry stamped after midnight) when one of those days is outside the range, e.g. a
-- trailing-days run that starts the day after the first copy's day. Both days then count the event
-- (events, revenue, every column), and in the 27 days read before the range (user_days, where
-- copies are not de-duplicated) a copy also makes its user active on its own day (WAU, MAU). Not
-- fixed: copies can lie any number of days apart, so an exact fix reads event_ids on both sides of
-- the range without a bound; a margin of a day or two would catch the midnight case only, at the
-- cost of a wider read in this and every other de-duplicating rollup script.
BEGIN TRANSACTION;

DELETE FROM daily_kpis WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO daily_kpis (
  date, events, active_users, wau, mau, new_users, sessions, revenue, transactions,
  avg_order_value, platform_fees, avg_rating, error_events, error_rate, api_p50_ms, api_p95_ms,
  paying_users, conversion_rate, currency, updated_at
)
WITH days AS (
  -- From 27 days before the range: WAU and MAU are running sums along this spine.
  SELECT date
  FROM UNNEST(GENERATE_DATE_ARRAY(
    DATE_SUB(@start_date, INTERVAL 27 DAY), LEAST(@end_date, CURRENT_DATE())
  )) AS date
),
deduped AS (
  SELECT
    DATE(`timestamp`) AS date,
    {{ user_key }} AS user_id,
    session_id,
    -- Money in another currency cannot be added up: it counts in revenue_daily only.
    IF(currency = @reporting_currency, revenue, NULL) AS revenue,
    -- JSON is parsed only for the events whose property counts: far fewer rows to parse.
    IF(revenue > 0, SAFE_CAST(JSON_VALUE(properties, '$.platform_fee') AS FLOAT64), NULL)
      AS platform_fee,
    IF(event_type = 'review', SAFE_CAST(JSON_VALUE(properties, '$.rating') AS FLOAT64), NULL)
      AS rating,
    IF(event_type = 'api_call', duration_ms, NULL) AS api_ms,
    {{ is_error }} AS is_error
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
  {{ first_copy }}
),
per_day AS (
  SELECT
    date,
    COUNT(*) AS events,
    COUNT(DISTINCT session_id) AS sessions,
    -- Rounded: float sums differ in their last bits with summation order, and a re-run must
    -- write identical rows. Six decimals keep every cent.
    ROUND(COALESCE(SUM(revenue), 0), 6) AS revenue,
    COUNTIF(revenue > 0) AS transactions,
    SUM(IF(revenue > 0, revenue, NULL)) AS gross_revenue,
    ROUND(COALESCE(SUM(IF(revenue > 0, platform_fee, NULL)), 0), 6) AS platform_fees,
    AVG(rating) AS avg_rating,
    COUNTIF(is_error) AS error_events,
    APPROX_QUANTILES(api_ms, 100)[OFFSET(50)] AS api_p50_ms,
    APPROX_QUANTILES(api_ms, 100)[OFFSET(95)] AS api_p95_ms,
    COUNT(DISTINCT IF(revenue > 0, user_id, NULL)) AS paying_users
  FROM deduped
  GROUP BY date
),
range_days AS (
  -- One row per user and active day of the range, from the de-duplicated events.
  SELECT DISTINCT date, user_id
  FROM deduped
  WHERE user_id IS NOT NULL
),
spans AS (
  -- An active day keeps its user in WAU for 7 days and in MAU for 28, or until the user's next
  -- active day, whose own span takes over: a user is in at most one span on any day, so WAU and
  -- MAU are counts of covering spans, not distinct counts over a 28-fold join.
  SELECT
    date,
    LEAD(date) OVER (PARTITION BY user_id ORDER BY date) AS next_date
  FROM range_days
  UNION ALL
  -- Before the range, from the per-day state user_days over the 27 days MAU looks back, only
  -- each user's last active day: an earlier day's span ends by that one, before the range, so
  -- it adds to no day of it. Its next active day is the user's first in the range.
  SELECT last_before.date, first_in_range.date AS next_date
  FROM (
    SELECT user_id, MAX(date) AS date
    FROM user_days
    WHERE date BETWEEN DATE_SUB(@start_date, INTERVAL 27 DAY)
      AND DATE_SUB(@start_date, INTERVAL 1 DAY)
    GROUP BY user_id
  ) AS last_before
  LEFT JOIN (
    SELECT user_id, MIN(date) AS date
    FROM range_days
    GROUP BY user_id
  ) AS first_in_range
    ON first_in_range.user_id = last_before.user_id
),
span_edges AS (
  -- +1 on the day a span starts, -1 on the day after it ends.
  SELECT date, 1 AS active, 1 AS wau_change, 1 AS mau_change
  FROM spans
  UNION ALL
  SELECT
    LEAST(COALESCE(next_date, DATE_ADD(date, INTERVAL 7 DAY)), DATE_ADD(date, INTERVAL 7 DAY)),
    0, -1, 0
  FROM spans
  UNION ALL
  SELECT
    LEAST(COALESCE(next_date, DATE_ADD(date, INTERVAL 28 DAY)), DATE_ADD(date, INTERVAL 28 DAY)),
    0, 0, -1
  FROM spans
),
day_changes AS (
  SELECT
    date,
    SUM(active) AS active_users,
    SUM(wau_change) AS wau_change,
    SUM(mau_change) AS mau_change
  FROM span_edges
  GROUP BY date
),
rolling AS (
  SELECT
    days.date,
    COALESCE(day_changes.active_users, 0) AS active_users,
    SUM(COALESCE(day_changes.wau_change, 0)) OVER (ORDER BY days.date) AS wau,
    SUM(COALESCE(day_changes.mau_change, 0)) OVER (ORDER BY days.date) AS mau
  FROM days
  LEFT JOIN day_changes ON day_changes.date = days.date
),
new_users AS (
  SELECT first_seen_date AS date, COUNT(*) AS new_users
  FROM user_first_seen
  WHERE first_seen_date BETWEEN @start_date AND @end_date
  GROUP BY first_seen_date
)
SELECT
  rolling.date,
  COALESCE(per_day.events, 0),
  rolling.active_users,
  rolling.wau,
  rolling.mau,
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
  SAFE_DIVIDE(per_day.paying_users, rolling.active_users),
  @reporting_currency,
  CURRENT_TIMESTAMP()
FROM rolling
LEFT JOIN per_day ON per_day.date = rolling.date
LEFT JOIN new_users ON new_users.date = rolling.date
WHERE rolling.date >= @start_date;

COMMIT TRANSACTION;
