-- Lifecycle flows (from_stage -> to_stage) summed over [@start_date, @end_date], for the Sankey.
SELECT
  from_stage,
  to_stage,
  SUM(users) AS users
FROM lifecycle_transitions
WHERE date BETWEEN @start_date AND @end_date
GROUP BY from_stage, to_stage
ORDER BY users DESC, from_stage, to_stage
