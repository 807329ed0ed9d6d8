CREATE TABLE IF NOT EXISTS bad_events (
  received_at TIMESTAMP NOT NULL,
  source STRING,                      -- write key's source, when the key was valid
  request_id STRING NOT NULL,         -- shared by every rejection from one request
  event_index INT64,                  -- position in the batch; NULL when the whole body was unusable
  event_id STRING,
  reason STRING NOT NULL,             -- invalid_event, invalid_json, invalid_batch, malformed_message, ...
  errors JSON,                        -- [{"field": ..., "message": ...}]
  payload STRING,                     -- the raw payload, truncated to 64 KiB; non-UTF-8 as \x escapes
  user_keys ARRAY<STRING>,            -- user_id and anonymous_id values the payload names (GDPR)
  keys_extracted BOOL                 -- FALSE: the payload could not be parsed, so user_keys is empty
                                      -- and erasure matches the payload's text instead
);
