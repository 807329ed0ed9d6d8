-- Retention heat map: cohorts starting in [@start_date, @end_date] of one @period (day or week),
-- with their first @periods period indexes (index 0 is the cohort's own period).
SELECT
  cohort_start,
  period_index,
  cohort_users,
  active_users,
  retention
FROM retention_cohorts
WHERE cohort_start BETWEEN @start_date AND @end_date
  AND period = @period
  AND period_index < @periods
ORDER BY cohort_start, period_index
