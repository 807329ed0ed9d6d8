-- When each rollup table last had rows written: its newest updated_at among the rows of the
-- last @days days (every rollup run rewrites recent days, so an older maximum means the job has
-- not succeeded since). A table a run gave no rows (no user first seen today) shows its last
-- rows. Every table of functions.rollup.runner.ROLLUP_TABLES, as tests/test_health.py checks.
SELECT 'error_daily' AS table_name, MAX(updated_at) AS last_updated_at FROM error_daily
WHERE `date` >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'hourly_metrics' AS table_name, MAX(updated_at) AS last_updated_at FROM hourly_metrics
WHERE DATE(`hour`) >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'platform_daily' AS table_name, MAX(updated_at) AS last_updated_at FROM platform_daily
WHERE `date` >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'revenue_daily' AS table_name, MAX(updated_at) AS last_updated_at FROM revenue_daily
WHERE `date` >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'search_daily' AS table_name, MAX(updated_at) AS last_updated_at FROM search_daily
WHERE `date` >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'top_entities_daily' AS table_name, MAX(updated_at) AS last_updated_at FROM top_entities_daily
WHERE `date` >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'user_first_seen' AS table_name, MAX(updated_at) AS last_updated_at FROM user_first_seen
WHERE first_seen_date >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'user_days' AS table_name, MAX(updated_at) AS last_updated_at FROM user_days
WHERE `date` >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'user_milestones' AS table_name, MAX(updated_at) AS last_updated_at FROM user_milestones
WHERE first_date >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'user_lifecycle' AS table_name, MAX(updated_at) AS last_updated_at FROM user_lifecycle
WHERE `date` >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'daily_kpis' AS table_name, MAX(updated_at) AS last_updated_at FROM daily_kpis
WHERE `date` >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'lifecycle_transitions' AS table_name, MAX(updated_at) AS last_updated_at FROM lifecycle_transitions
WHERE `date` >= DATE_SUB(@today, INTERVAL @days DAY)
UNION ALL
SELECT 'retention_cohorts' AS table_name, MAX(updated_at) AS last_updated_at FROM retention_cohorts
WHERE cohort_start >= DATE_SUB(@today, INTERVAL @days DAY)
