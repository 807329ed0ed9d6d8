-- A user's raw events, one JSON object per row, oldest first.
SELECT TO_JSON_STRING(e) AS line
FROM events AS e
WHERE DATE(e.`timestamp`) >= @since
  AND (e.user_id = @user_id OR e.anonymous_id = @user_id)
ORDER BY e.`timestamp`, e.event_id
