-- user_lifecycle for @start_date..@end_date (UTC days): the stage changes of those days, with the
-- stages defined in user_lifecycle/table.sql. A change on a day depends on the user's activity
-- in the @churn_days days before it (the longest gap that is not yet churn), and on their history
-- before that: whether they were seen, signed up and paid. Both come from state, not raw events:
-- the active days from user_days, the history from user_first_seen and user_milestones (run all
-- three first), exact whatever order the runs came in.
BEGIN TRANSACTION;

DELETE FROM user_lifecycle WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO user_lifecycle (date, user_id, stage, previous_stage, signed_up, paid, updated_at)
WITH range_days AS (
  -- The users' active days in the range, from the per-day state (run user_days first).
  SELECT user_id, date, signup, payment
  FROM user_days
  WHERE date BETWEEN @start_date AND @end_date
),
last_before AS (
  -- Before the range, only a user's last active day in the churn window can change a stage in
  -- the range: its next active day, or its churn, may fall in it, while an earlier day's next
  -- active day is that last one. So each user has one row for those days (rolled up by earlier
  -- runs): the last, with the milestones reached on any of them.
  SELECT user_id, MAX(date) AS date, LOGICAL_OR(signup) AS signup, LOGICAL_OR(payment) AS payment
  FROM user_days
  WHERE date BETWEEN DATE_SUB(@start_date, INTERVAL @churn_days DAY)
    AND DATE_SUB(@start_date, INTERVAL 1 DAY)
  GROUP BY user_id
),
active_days AS (
  -- Only the users who can change stage in the range: those active in it, and those whose last
  -- day before it lies @churn_days before one of its days (they may churn on it). For the
  -- hourly one-day run that is two days' users, not the whole window's.
  SELECT *
  FROM range_days
  UNION ALL
  SELECT *
  FROM last_before
  WHERE date <= DATE_SUB(@end_date, INTERVAL @churn_days DAY)
    OR user_id IN (SELECT user_id FROM range_days)
),
history AS (
  -- The window's users seen before it, with the milestones they had reached by then.
  SELECT
    seen.user_id,
    COALESCE(LOGICAL_OR(milestones.milestone = 'signup'), FALSE) AS signed_up,
    COALESCE(LOGICAL_OR(milestones.milestone = 'payment'), FALSE) AS paid
  FROM user_first_seen AS seen
  LEFT JOIN user_milestones AS milestones
    ON milestones.user_id = seen.user_id
    AND milestones.first_date < DATE_SUB(@start_date, INTERVAL @churn_days DAY)
  WHERE seen.first_seen_date < DATE_SUB(@start_date, INTERVAL @churn_days DAY)
    AND seen.user_id IN (SELECT user_id FROM active_days)
  GROUP BY seen.user_id
),
flagged AS (
  SELECT
    active_days.user_id,
    active_days.date,
    history.user_id IS NOT NULL AS seen_before,
    COALESCE(history.signed_up, FALSE) AS signed_up_before,
    COALESCE(history.paid, FALSE) AS paid_before,
    -- A user's days here are distinct, so "a signup on a day up to this one" is "the first
    -- signup day is not after this one": one aggregate over the user's days, not a running one.
    MIN(IF(active_days.signup, active_days.date, NULL))
      OVER (PARTITION BY active_days.user_id) AS first_signup_date,
    MIN(IF(active_days.payment, active_days.date, NULL))
      OVER (PARTITION BY active_days.user_id) AS first_payment_date,
    LAG(active_days.date) OVER (PARTITION BY active_days.user_id ORDER BY active_days.date)
      AS previous_date,
    LEAD(active_days.date) OVER (PARTITION BY active_days.user_id ORDER BY active_days.date)
      AS next_date
  FROM active_days
  LEFT JOIN history ON history.user_id = active_days.user_id
),
reached AS (
  -- Signed up and paid by each day, and by the previous active day (what its stage is made of).
  SELECT
    *,
    signed_up_before OR COALESCE(first_signup_date <= date, FALSE) AS signed_up,
    paid_before OR COALESCE(first_payment_date <= date, FALSE) AS paid,
    signed_up_before OR COALESCE(first_signup_date < date, FALSE) AS signed_up_by_previous_day,
    paid_before OR COALESCE(first_payment_date < date, FALSE) AS paid_by_previous_day
  FROM flagged
),
staged AS (
  -- A day's stage, and the previous active day's, by the same rule (user_lifecycle/table.sql).
  SELECT
    *,
    CASE WHEN paid THEN 'customer' WHEN signed_up THEN 'activated' ELSE 'lead' END AS stage,
    CASE
      WHEN paid_by_previous_day THEN 'customer'
      WHEN signed_up_by_previous_day THEN 'activated'
      ELSE 'lead'
    END AS stage_on_previous_day
  FROM reached
),
changes AS (
  -- On a day with events: the stage reached, from the stage of the previous active day, or from
  -- churned after a gap longer than @churn_days (or when the last event is older than the window).
  SELECT
    date,
    user_id,
    stage,
    CASE
      WHEN previous_date IS NULL AND seen_before THEN 'churned'
      WHEN previous_date IS NULL THEN 'new'
      WHEN DATE_DIFF(date, previous_date, DAY) > @churn_days THEN 'churned'
      ELSE stage_on_previous_day
    END AS previous_stage,
    signed_up,
    paid
  FROM staged
  UNION ALL
  -- @churn_days after an active day not followed by another within them, the user churns.
  SELECT
    DATE_ADD(date, INTERVAL @churn_days DAY) AS date,
    user_id,
    'churned' AS stage,
    stage AS previous_stage,
    signed_up,
    paid
  FROM staged
  WHERE next_date IS NULL OR DATE_DIFF(next_date, date, DAY) > @churn_days
)
SELECT date, user_id, stage, previous_stage, signed_up, paid, CURRENT_TIMESTAMP()
FROM changes
WHERE date BETWEEN @start_date AND LEAST(@end_date, CURRENT_DATE())
  AND stage != previous_stage;

COMMIT TRANSACTION;
