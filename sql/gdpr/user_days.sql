-- The days on which a user (by user_id or anonymous_id) has raw events: the rollup days their
-- erasure changes. @since reaches back past retention, so every stored partition is covered.
SELECT DISTINCT DATE(`timestamp`) AS day
FROM events
WHERE DATE(`timestamp`) >= @since
  AND (user_id = @user_id OR anonymous_id = @user_id)
ORDER BY day
