-- user_milestones for the active days of @start_date..@end_date (UTC days; from user_days, run it
-- first), incrementally, as user_first_seen/rollup.sql: a user's milestone keeps its row from
-- before the range; otherwise its first day in the range becomes its row. Rows in the range are
-- rebuilt, and a later row of a milestone reached in the range moves here (a backfill found an
-- older event). A day names the milestones it reached (a day may have both).
BEGIN TRANSACTION;

DELETE FROM user_milestones
WHERE first_date BETWEEN @start_date AND @end_date
  OR (
    first_date > @end_date
    AND CONCAT(milestone, '/', user_id) IN (
      -- As in user_first_seen/rollup.sql: the few users with a milestone after the range filter
      -- the range's user_days first.
      SELECT CONCAT(milestone, '/', user_id)
      FROM user_days
      CROSS JOIN {{ day_milestones }}
      WHERE date BETWEEN @start_date AND @end_date
        AND milestone IS NOT NULL
        AND user_id IN (SELECT user_id FROM user_milestones WHERE first_date > @end_date)
    )
  );

INSERT INTO user_milestones (user_id, milestone, first_date, updated_at)
WITH reached_in_range AS (
  SELECT user_id, milestone, MIN(date) AS first_date
  FROM user_days
  CROSS JOIN {{ day_milestones }}
  WHERE date BETWEEN @start_date AND @end_date
    AND milestone IS NOT NULL
  GROUP BY user_id, milestone
),
reached_before AS (
  SELECT user_id, milestone
  FROM user_milestones
  WHERE first_date < @start_date
)
SELECT
  reached_in_range.user_id,
  reached_in_range.milestone,
  reached_in_range.first_date,
  CURRENT_TIMESTAMP()
FROM reached_in_range
LEFT JOIN reached_before
  ON reached_before.user_id = reached_in_range.user_id
  AND reached_before.milestone = reached_in_range.milestone
WHERE reached_before.user_id IS NULL;

COMMIT TRANSACTION;
