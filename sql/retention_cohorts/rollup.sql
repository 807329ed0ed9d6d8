-- retention_cohorts touched by the activity of @start_date..@end_date (UTC days): day cohorts that
-- started up to 30 days before @start_date, week cohorts up to 12 weeks before its week, each
-- recomputed whole from user_first_seen (run user_first_seen first) and the users' active days.
-- Reads events from the earliest such cohort to 90 days after @end_date, user columns only, which
-- holds every period of every cohort rebuilt: the result does not depend on the order of runs.
BEGIN TRANSACTION;

DELETE FROM retention_cohorts
WHERE cohort_start BETWEEN DATE_SUB(CAST(DATE_TRUNC(@start_date, ISOWEEK) AS DATE), INTERVAL 84 DAY)
    AND @end_date
  AND (
    (period = 'day' AND cohort_start >= DATE_SUB(@start_date, INTERVAL 30 DAY))
    OR period = 'week'
  );

INSERT INTO retention_cohorts (
  period, cohort_start, period_index, cohort_users, active_users, retention, updated_at
)
WITH members AS (
  SELECT 'day' AS period, first_seen_date AS cohort_start, user_id
  FROM user_first_seen
  WHERE first_seen_date BETWEEN DATE_SUB(@start_date, INTERVAL 30 DAY) AND @end_date
  UNION ALL
  SELECT 'week' AS period, CAST(DATE_TRUNC(first_seen_date, ISOWEEK) AS DATE) AS cohort_start, user_id
  FROM user_first_seen
  WHERE first_seen_date BETWEEN DATE_SUB(CAST(DATE_TRUNC(@start_date, ISOWEEK) AS DATE), INTERVAL 84 DAY)
    AND DATE_ADD(CAST(DATE_TRUNC(@end_date, ISOWEEK) AS DATE), INTERVAL 6 DAY)
),
active_days AS (
  -- Distinct (day, user) pairs: copies of an event change none, so no de-duplication is needed.
  SELECT DISTINCT DATE(`timestamp`) AS date, {{ user_key }} AS user_id
  FROM events
  WHERE DATE(`timestamp`) BETWEEN DATE_SUB(CAST(DATE_TRUNC(@start_date, ISOWEEK) AS DATE), INTERVAL 84 DAY)
      AND DATE_ADD(@end_date, INTERVAL 90 DAY)
    AND {{ user_key }} IS NOT NULL
),
member_periods AS (
  SELECT DISTINCT
    members.period,
    members.cohort_start,
    members.user_id,
    IF(
      members.period = 'day',
      DATE_DIFF(active_days.date, members.cohort_start, DAY),
      DIV(DATE_DIFF(active_days.date, members.cohort_start, DAY), 7)
    ) AS period_index
  FROM members
  JOIN active_days
    ON active_days.user_id = members.user_id
    AND active_days.date >= members.cohort_start
),
actives AS (
  SELECT period, cohort_start, period_index, COUNT(*) AS active_users
  FROM member_periods
  GROUP BY period, cohort_start, period_index
),
cohorts AS (
  SELECT period, cohort_start, COUNT(*) AS cohort_users
  FROM members
  GROUP BY period, cohort_start
),
periods AS (
  -- Every period that has started by today (UTC), so a period without activity reads as 0.
  SELECT cohorts.period, cohorts.cohort_start, cohorts.cohort_users, period_index
  FROM cohorts
  CROSS JOIN UNNEST(GENERATE_ARRAY(0, 30)) AS period_index
  WHERE (cohorts.period = 'day'
      AND DATE_ADD(cohorts.cohort_start, INTERVAL period_index DAY) <= CURRENT_DATE())
    OR (cohorts.period = 'week' AND period_index <= 12
      AND DATE_ADD(cohorts.cohort_start, INTERVAL 7 * period_index DAY) <= CURRENT_DATE())
)
SELECT
  periods.period,
  periods.cohort_start,
  periods.period_index,
  periods.cohort_users,
  COALESCE(actives.active_users, 0),
  COALESCE(actives.active_users, 0) / periods.cohort_users,
  CURRENT_TIMESTAMP()
FROM periods
LEFT JOIN actives
  ON actives.period = periods.period
  AND actives.cohort_start = periods.cohort_start
  AND actives.period_index = periods.period_index;

COMMIT TRANSACTION;
