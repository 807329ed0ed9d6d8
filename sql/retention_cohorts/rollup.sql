-- retention_cohorts touched by the activity of @start_date..@end_date (UTC days): of the day
-- cohorts that started up to 30 days before @start_date and the week cohorts up to 12 weeks before
-- its week, the periods that end on or after @start_date, recomputed from user_first_seen and
-- user_days (run both first). Activity of the range can change no earlier period, and a cohort
-- whose members can change (one starting in the range) has no earlier period either, so the
-- cells kept are exactly those the range cannot touch. A cell counts the members active in its
-- period, from the per-day state, never raw events. No such period holds a day before
-- @start_date - 6 (a week period ending on @start_date starts then), so a run reads the days
-- from then to 90 days after @end_date at most, whatever the history.
BEGIN TRANSACTION;

DELETE FROM retention_cohorts
WHERE cohort_start BETWEEN DATE_SUB(CAST(DATE_TRUNC(@start_date, ISOWEEK) AS DATE), INTERVAL 84 DAY)
    AND @end_date
  AND (
    (period = 'day' AND cohort_start >= DATE_SUB(@start_date, INTERVAL 30 DAY)
      AND DATE_ADD(cohort_start, INTERVAL period_index DAY) >= @start_date)
    OR (period = 'week'
      AND DATE_ADD(cohort_start, INTERVAL 7 * period_index + 6 DAY) >= @start_date)
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
  -- The members' active days that a period below can hold, from the per-day state (run
  -- user_days first): from 6 days before @start_date to the end of the last week period of a
  -- cohort starting by @end_date (its week's Monday + 90 days). A day past a cohort's last period
  -- makes an index that no period has, so it counts nowhere.
  SELECT user_id, date
  FROM user_days
  WHERE date BETWEEN DATE_SUB(@start_date, INTERVAL 6 DAY) AND DATE_ADD(@end_date, INTERVAL 90 DAY)
    AND user_id IN (SELECT user_id FROM members)
),
member_periods AS (
  -- Each member once per period with activity. A day period holds one day, and user_days has one
  -- row per user and day, so its rows are distinct as they come; a week period holds the active
  -- days of one ISO week (a week cohort starts on a Monday), counted once.
  SELECT
    members.period,
    members.cohort_start,
    DATE_DIFF(active_days.date, members.cohort_start, DAY) AS period_index
  FROM members
  JOIN active_days
    ON active_days.user_id = members.user_id
    AND active_days.date >= members.cohort_start
  WHERE members.period = 'day'
  UNION ALL
  SELECT
    members.period,
    members.cohort_start,
    DIV(DATE_DIFF(active_weeks.week, members.cohort_start, DAY), 7) AS period_index
  FROM members
  JOIN (
    SELECT DISTINCT user_id, CAST(DATE_TRUNC(date, ISOWEEK) AS DATE) AS week
    FROM active_days
  ) AS active_weeks
    ON active_weeks.user_id = members.user_id
    AND active_weeks.week >= members.cohort_start
  WHERE members.period = 'week'
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
  -- Every period that has started by today (UTC), so a period without activity reads as 0, and
  -- ends on or after @start_date (the cells the DELETE above removed).
  SELECT cohorts.period, cohorts.cohort_start, cohorts.cohort_users, period_index
  FROM cohorts
  CROSS JOIN UNNEST(GENERATE_ARRAY(0, 30)) AS period_index
  WHERE (cohorts.period = 'day'
      AND DATE_ADD(cohorts.cohort_start, INTERVAL period_index DAY) <= CURRENT_DATE()
      AND DATE_ADD(cohorts.cohort_start, INTERVAL period_index DAY) >= @start_date)
    OR (cohorts.period = 'week' AND period_index <= 12
      AND DATE_ADD(cohorts.cohort_start, INTERVAL 7 * period_index DAY) <= CURRENT_DATE()
      AND DATE_ADD(cohorts.cohort_start, INTERVAL 7 * period_index + 6 DAY) >= @start_date)
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
