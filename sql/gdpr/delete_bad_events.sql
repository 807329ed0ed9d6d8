-- Erase rejected payloads of the user: by the user keys ingest extracted, or by the raw text of a
-- payload that could not be parsed (sql/shared/names_user.sql).
DELETE FROM bad_events
WHERE DATE(received_at) >= @since
  AND {{ names_user }}
