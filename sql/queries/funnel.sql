-- Ordered funnel over raw events: how many users did step 1, then step 2 at or after their
-- first step 1, then step 3 after that, and so on, all inside [@start_date, @end_date].
-- Taking each user's earliest qualifying time per step is greedy, which finds every user who
-- completed the steps in order. Up to eight steps; unused @step_N are '' and match nothing.
-- Duplicated events cannot change an earliest time, so no de-duplication is needed here.
WITH candidate AS (
  SELECT {{ user_key }} AS user_key, event_type, `timestamp` AS ts
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
    AND event_type IN (@step_1, @step_2, @step_3, @step_4, @step_5, @step_6, @step_7, @step_8)
    AND {{ user_key }} IS NOT NULL
),
s1 AS (
  SELECT user_key, MIN(ts) AS ts FROM candidate WHERE event_type = @step_1 GROUP BY user_key
),
s2 AS (
  SELECT c.user_key, MIN(c.ts) AS ts
  FROM candidate AS c JOIN s1 AS p ON c.user_key = p.user_key AND c.ts >= p.ts
  WHERE c.event_type = @step_2 GROUP BY c.user_key
),
s3 AS (
  SELECT c.user_key, MIN(c.ts) AS ts
  FROM candidate AS c JOIN s2 AS p ON c.user_key = p.user_key AND c.ts >= p.ts
  WHERE c.event_type = @step_3 GROUP BY c.user_key
),
s4 AS (
  SELECT c.user_key, MIN(c.ts) AS ts
  FROM candidate AS c JOIN s3 AS p ON c.user_key = p.user_key AND c.ts >= p.ts
  WHERE c.event_type = @step_4 GROUP BY c.user_key
),
s5 AS (
  SELECT c.user_key, MIN(c.ts) AS ts
  FROM candidate AS c JOIN s4 AS p ON c.user_key = p.user_key AND c.ts >= p.ts
  WHERE c.event_type = @step_5 GROUP BY c.user_key
),
s6 AS (
  SELECT c.user_key, MIN(c.ts) AS ts
  FROM candidate AS c JOIN s5 AS p ON c.user_key = p.user_key AND c.ts >= p.ts
  WHERE c.event_type = @step_6 GROUP BY c.user_key
),
s7 AS (
  SELECT c.user_key, MIN(c.ts) AS ts
  FROM candidate AS c JOIN s6 AS p ON c.user_key = p.user_key AND c.ts >= p.ts
  WHERE c.event_type = @step_7 GROUP BY c.user_key
),
s8 AS (
  SELECT c.user_key, MIN(c.ts) AS ts
  FROM candidate AS c JOIN s7 AS p ON c.user_key = p.user_key AND c.ts >= p.ts
  WHERE c.event_type = @step_8 GROUP BY c.user_key
)
SELECT 1 AS step_number, COUNT(*) AS users FROM s1
UNION ALL SELECT 2, COUNT(*) FROM s2
UNION ALL SELECT 3, COUNT(*) FROM s3
UNION ALL SELECT 4, COUNT(*) FROM s4
UNION ALL SELECT 5, COUNT(*) FROM s5
UNION ALL SELECT 6, COUNT(*) FROM s6
UNION ALL SELECT 7, COUNT(*) FROM s7
UNION ALL SELECT 8, COUNT(*) FROM s8
ORDER BY step_number
