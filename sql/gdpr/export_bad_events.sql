-- A user's rejected payloads, matched as delete_bad_events.sql erases them, oldest first.
SELECT received_at, reason, errors, payload
FROM bad_events
WHERE DATE(received_at) >= @since
  AND (
    @user_id IN UNNEST(user_keys)
    OR (
      keys_extracted IS NOT TRUE
      AND REGEXP_CONTAINS(payload, @key_pattern)
    )
  )
ORDER BY received_at, request_id, event_index
