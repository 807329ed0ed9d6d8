-- Retention of users by the day or week they were first seen (user_first_seen). Row (period,
-- cohort_start, period_index): of the cohort's users, how many had an event in the period_index-th
-- day or week after cohort_start (index 0 is the cohort's own period, so its retention is 1).
-- Kept for day indexes 0-30 and week indexes 0-12; weeks start on Monday; periods that have not
-- started yet (after today, UTC) have no row. Written by sql/rollups/retention_cohorts.sql.
CREATE TABLE IF NOT EXISTS retention_cohorts (
  period STRING NOT NULL,             -- 'day' or 'week'
  cohort_start DATE NOT NULL,         -- the cohort's first day (a Monday for weeks)
  period_index INT64 NOT NULL,
  cohort_users INT64 NOT NULL,
  active_users INT64 NOT NULL,
  retention FLOAT64 NOT NULL,         -- active_users / cohort_users
  updated_at TIMESTAMP NOT NULL
)
PARTITION BY cohort_start
CLUSTER BY period
OPTIONS (require_partition_filter = TRUE);
