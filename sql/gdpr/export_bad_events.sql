-- A user's rejected payloads, matched as delete_bad_events.sql erases them, oldest first.
SELECT received_at, reason, errors, payload
FROM bad_events
WHERE DATE(received_at) >= @since
  AND {{ names_user }}
ORDER BY received_at, request_id, event_index
