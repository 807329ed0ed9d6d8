-- user_activity for @start_date..@end_date (UTC days); needs user_first_seen for the range.
-- The users active in the range whose first 91 days overlap it get a new row: their active days
-- of the range, read from user_days, and their other days, kept from their previous row, all
-- within the 91 days from their (possibly new) first_seen_date: the work grows with the range's
-- users, not with history. The new rows are written first, tagged with @run_id, then the rows they
-- replace are deleted: no temporary table needed, and the script runs in one transaction. A user
-- without an active day in the window keeps no row.
BEGIN TRANSACTION;

INSERT INTO user_activity (user_id, first_seen_date, active_dates, run_id, updated_at)
WITH range_days AS (
  -- The range's (user, day) pairs, from user_days (run it first).
  SELECT user_id, date AS day
  FROM user_days
  WHERE date BETWEEN @start_date AND @end_date
),
affected AS (
  -- Users active in the range whose first 91 days overlap it. Only they can gain or lose a day:
  -- events are never taken away but by an erasure, which deletes the user's row itself.
  SELECT user_id, first_seen_date
  FROM user_first_seen
  WHERE first_seen_date BETWEEN DATE_SUB(@start_date, INTERVAL 90 DAY) AND @end_date
    AND user_id IN (SELECT user_id FROM range_days)
),
kept_days AS (
  -- Days outside the range from each affected user's previous row. A previous row's first day
  -- is the current one or later (first days only move earlier, into a range rolled up), so the
  -- partition filter keeps every row replaced. Rows are chosen before their arrays unnest, and
  -- only those with a day outside the range (the days are in order): a run over all of
  -- history unnests none.
  SELECT previous.user_id, day
  FROM (
    SELECT user_id, active_dates
    FROM user_activity
    WHERE first_seen_date >= DATE_SUB(@start_date, INTERVAL 90 DAY)
      AND user_id IN (SELECT user_id FROM affected)
      AND (active_dates[SAFE_OFFSET(0)] < @start_date
        OR active_dates[SAFE_ORDINAL(ARRAY_LENGTH(active_dates))] > @end_date)
  ) AS previous
  CROSS JOIN UNNEST(previous.active_dates) AS day
  WHERE day < @start_date OR day > @end_date
),
window_days AS (
  -- Distinct already: range_days is, a previous row's days are, and they never share a day.
  SELECT affected.user_id, affected.first_seen_date, days.day
  FROM affected
  JOIN (
    SELECT user_id, day FROM kept_days
    UNION ALL
    SELECT user_id, day FROM range_days
  ) AS days
    ON days.user_id = affected.user_id
  WHERE days.day BETWEEN affected.first_seen_date
    AND DATE_ADD(affected.first_seen_date, INTERVAL 90 DAY)
)
SELECT
  user_id,
  first_seen_date,
  ARRAY_AGG(day ORDER BY day),
  @run_id,
  CURRENT_TIMESTAMP()
FROM window_days
GROUP BY user_id, first_seen_date;

-- The rows replaced: the affected users' previous rows (see kept_days for the filter).
DELETE FROM user_activity
WHERE run_id != @run_id
  AND first_seen_date >= DATE_SUB(@start_date, INTERVAL 90 DAY)
  AND user_id IN (SELECT user_id FROM user_days WHERE date BETWEEN @start_date AND @end_date);

COMMIT TRANSACTION;
