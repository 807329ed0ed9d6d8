-- Sample rollup rows for every day (and hour) of [@start_date, @end_date]: plausible,
-- deterministic figures with a weekly rhythm and slow growth, for the query latency bench
-- (one year of rows in a second, without a year of raw events). Never run by the product.
-- `n` numbers the day; `wiggle` is a repeatable 0-16 jitter.
INSERT INTO daily_kpis (
  date, events, active_users, wau, mau, new_users, sessions, revenue, transactions,
  avg_order_value, platform_fees, avg_rating, error_events, error_rate, api_p50_ms, api_p95_ms,
  paying_users, conversion_rate, currency, updated_at
)
WITH day AS (
  SELECT
    d AS date,
    DATE_DIFF(d, @start_date, DAY) AS n,
    MOD(UNIX_DATE(d) * 37, 17) AS wiggle,
    IF(EXTRACT(DAYOFWEEK FROM d) IN (1, 7), 0.7, 1.0) AS weekday
  FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS d
)
SELECT
  date,
  CAST((4000 + 10 * n + 90 * wiggle) * weekday AS INT64),
  CAST((400 + n + 9 * wiggle) * weekday AS INT64),
  1900 + 5 * n,
  5200 + 12 * n,
  CAST((40 + wiggle) * weekday AS INT64),
  CAST((700 + 2 * n + 15 * wiggle) * weekday AS INT64),
  ROUND((2500 + 5 * n + 60 * wiggle) * weekday, 2),
  CAST((50 + wiggle) * weekday AS INT64),
  ROUND(50 + wiggle, 2),
  ROUND((250 + 6 * wiggle) * weekday, 2),
  3.8 + wiggle / 40,
  CAST((60 + 4 * wiggle) * weekday AS INT64),
  (60 + 4 * wiggle) / (4000 + 10 * n + 90 * wiggle),
  110 + 3 * wiggle,
  420 + 12 * wiggle,
  CAST((45 + wiggle) * weekday AS INT64),
  (45 + wiggle) / (400 + n + 9 * wiggle),
  'USD',
  CURRENT_TIMESTAMP()
FROM day;

INSERT INTO hourly_metrics (
  hour, events, active_users, errors, revenue, api_p50_ms, api_p95_ms, currency, updated_at
)
WITH hour AS (
  SELECT
    h AS hour,
    EXTRACT(HOUR FROM h) AS hour_of_day,
    MOD(UNIX_SECONDS(h) / 3600 * 31, 13) AS wiggle
  FROM UNNEST(
    GENERATE_TIMESTAMP_ARRAY(
      TIMESTAMP(@start_date), TIMESTAMP_ADD(TIMESTAMP(@end_date), INTERVAL 23 HOUR),
      INTERVAL 1 HOUR
    )
  ) AS h
)
SELECT
  hour,
  CAST(80 + 120 * (1 + SIN((hour_of_day - 9) * 3.14159 / 12)) + 8 * wiggle AS INT64),
  CAST(20 + 25 * (1 + SIN((hour_of_day - 9) * 3.14159 / 12)) + wiggle AS INT64),
  CAST(1 + MOD(wiggle, 5) AS INT64),
  ROUND(40 + 60 * (1 + SIN((hour_of_day - 9) * 3.14159 / 12)) + 3 * wiggle, 2),
  100 + 4 * wiggle,
  400 + 15 * wiggle,
  'USD',
  CURRENT_TIMESTAMP()
FROM hour;

INSERT INTO revenue_daily (
  date, currency, platform, revenue, transactions, refunds, refunded, paying_users,
  platform_fees, updated_at
)
SELECT
  d,
  currency,
  platform,
  ROUND(share * (2500 + 60 * MOD(UNIX_DATE(d) * 37, 17)), 2),
  CAST(share * 55 AS INT64) + 1,
  MOD(UNIX_DATE(d), 3),
  ROUND(MOD(UNIX_DATE(d), 3) * 18.5, 2),
  CAST(share * 48 AS INT64) + 1,
  ROUND(share * 250, 2),
  CURRENT_TIMESTAMP()
FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS d
CROSS JOIN UNNEST([
  STRUCT('USD' AS currency, 'web' AS platform, 0.45 AS share),
  STRUCT('USD', 'ios', 0.3),
  STRUCT('USD', 'android', 0.25),
  STRUCT('EUR', 'web', 0.2)
]);

INSERT INTO platform_daily (
  date, platform, users, events, error_events, success_rate, api_p50_ms, api_p95_ms, updated_at
)
SELECT
  d,
  platform,
  CAST(share * (400 + 9 * MOD(UNIX_DATE(d) * 37, 17)) AS INT64),
  CAST(share * (4000 + 90 * MOD(UNIX_DATE(d) * 37, 17)) AS INT64),
  CAST(share * failure * 4000 AS INT64),
  1 - failure,
  latency,
  latency * 4,
  CURRENT_TIMESTAMP()
FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS d
CROSS JOIN UNNEST([
  STRUCT('web' AS platform, 0.5 AS share, 0.012 AS failure, 95.0 AS latency),
  STRUCT('ios', 0.3, 0.018, 120.0),
  STRUCT('android', 0.2, 0.025, 140.0)
]);

INSERT INTO search_daily (
  date, query, searches, zero_result_searches, avg_results, p50_ms, updated_at
)
SELECT
  d,
  query,
  popularity + MOD(UNIX_DATE(d) * 7, 5),
  CAST(popularity * zero_share AS INT64),
  results,
  80 + popularity,
  CURRENT_TIMESTAMP()
FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS d
CROSS JOIN UNNEST([
  STRUCT('plumber' AS query, 60 AS popularity, 0.02 AS zero_share, 14.5 AS results),
  STRUCT('electrician', 45, 0.05, 11.0),
  STRUCT('cleaning', 38, 0.01, 22.0),
  STRUCT('guitar lessons', 25, 0.2, 4.5),
  STRUCT('moving van', 18, 0.1, 6.0),
  STRUCT('roof repair', 12, 0.3, 2.5),
  STRUCT('dog walker', 9, 0.4, 1.5),
  STRUCT('piano tuner', 5, 0.8, 0.3)
]);

INSERT INTO error_daily (date, error_type, events, affected_users, updated_at)
SELECT
  d,
  error_type,
  weight + MOD(UNIX_DATE(d) * 13, 7),
  CAST(weight / 3 AS INT64) + 1,
  CURRENT_TIMESTAMP()
FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS d
CROSS JOIN UNNEST([
  STRUCT('timeout' AS error_type, 30 AS weight),
  STRUCT('payment_declined', 18),
  STRUCT('http_500', 9),
  STRUCT('validation', 6)
]);

INSERT INTO top_entities_daily (
  date, dimension, entity, events, revenue, ratings, avg_rating, updated_at
)
SELECT
  d,
  dimension,
  CONCAT(prefix, CAST(k AS STRING)),
  10 + MOD(k * 17 + UNIX_DATE(d), 40),
  ROUND(MOD(k * 29 + UNIX_DATE(d), 300) * 1.5, 2),
  MOD(k + UNIX_DATE(d), 4),
  IF(MOD(k + UNIX_DATE(d), 4) = 0, NULL, 3 + MOD(k * 7, 21) / 10),
  CURRENT_TIMESTAMP()
FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS d
CROSS JOIN UNNEST([
  STRUCT('provider_id' AS dimension, 'prov_' AS prefix),
  STRUCT('product_id', 'prod_')
])
CROSS JOIN UNNEST(GENERATE_ARRAY(1, 20)) AS k;

INSERT INTO retention_cohorts (
  period, cohort_start, period_index, cohort_users, active_users, retention, updated_at
)
SELECT
  period,
  cohort_start,
  period_index,
  cohort_users,
  CAST(ROUND(cohort_users * IF(period_index = 0, 1, 0.55 * POW(0.86, period_index))) AS INT64),
  ROUND(IF(period_index = 0, 1, 0.55 * POW(0.86, period_index)), 4),
  CURRENT_TIMESTAMP()
FROM (
  SELECT 'week' AS period, w AS cohort_start, i AS period_index, 300 + MOD(UNIX_DATE(w), 50)
    AS cohort_users
  FROM UNNEST(
    GENERATE_DATE_ARRAY(DATE_TRUNC(@start_date, WEEK(MONDAY)), @end_date, INTERVAL 1 WEEK)
  ) AS w
  CROSS JOIN UNNEST(GENERATE_ARRAY(0, 12)) AS i
  WHERE w >= @start_date AND DATE_ADD(w, INTERVAL i WEEK) <= @end_date
  UNION ALL
  SELECT 'day', d, i, 40 + MOD(UNIX_DATE(d), 9)
  FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS d
  CROSS JOIN UNNEST(GENERATE_ARRAY(0, 30)) AS i
  WHERE DATE_ADD(d, INTERVAL i DAY) <= @end_date
);

INSERT INTO lifecycle_transitions (date, from_stage, to_stage, users, updated_at)
SELECT d, from_stage, to_stage, weight + MOD(UNIX_DATE(d) * 11, 5), CURRENT_TIMESTAMP()
FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS d
CROSS JOIN UNNEST([
  STRUCT('new' AS from_stage, 'lead' AS to_stage, 30 AS weight),
  STRUCT('new', 'activated', 12),
  STRUCT('lead', 'activated', 9),
  STRUCT('activated', 'customer', 6),
  STRUCT('lead', 'churned', 7),
  STRUCT('activated', 'churned', 3),
  STRUCT('customer', 'churned', 1),
  STRUCT('churned', 'lead', 2)
]);
