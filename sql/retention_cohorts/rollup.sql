-- retention_cohorts touched by the activity of @start_date..@end_date (UTC days): day cohorts that
-- started up to 30 days before @start_date, week cohorts up to 12 weeks before its week, each
-- recomputed whole from user_first_seen and user_activity (run both first): the members' active
-- days in their first 91 days, which hold every period of every cohort rebuilt. No raw events:
-- a run reads the state of its cohorts' users, however long the history.
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
  -- Each member's active days within their first 91 days, every day a period below counts
  -- (week 12 ends 90 days after a cohort's Monday), from the per-user state, not raw events.
  SELECT user_activity.user_id, date
  FROM user_activity
  CROSS JOIN UNNEST(user_activity.active_dates) AS date
  WHERE user_activity.first_seen_date
      BETWEEN DATE_SUB(CAST(DATE_TRUNC(@start_date, ISOWEEK) AS DATE), INTERVAL 84 DAY)
      AND DATE_ADD(CAST(DATE_TRUNC(@end_date, ISOWEEK) AS DATE), INTERVAL 6 DAY)
    AND user_activity.user_id IN (SELECT user_id FROM members)
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
