CREATE TABLE IF NOT EXISTS retention_cohorts (
  period STRING NOT NULL,             -- 'day' or 'week'
  cohort_start DATE NOT NULL,         -- the cohort's first day (a Monday for weeks)
  period_index INT64 NOT NULL,
  cohort_users INT64 NOT NULL,
  active_users INT64 NOT NULL,
  retention FLOAT64 NOT NULL,         -- active_users / cohort_users
  updated_at TIMESTAMP NOT NULL
);
