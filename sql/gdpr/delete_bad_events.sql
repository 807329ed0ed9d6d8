-- Erase rejected payloads that name the user: @needle is the id as a JSON string ("id"), as it
-- appears in a raw payload's user_id or anonymous_id.
DELETE FROM bad_events
WHERE DATE(received_at) >= @since
  AND STRPOS(payload, @needle) > 0
