-- Erase rejected payloads of the user. A parsed payload names its users in user_keys, matched by
-- equality. One that could not be parsed (keys_extracted FALSE) is matched on its raw text:
-- @key_pattern finds the id as the JSON string value of a "user_id" or "anonymous_id" key, in
-- both spellings, raw UTF-8 ("jürgen") and escaped ("j\u00fcrgen"); see functions/rollup/gdpr.py.
DELETE FROM bad_events
WHERE DATE(received_at) >= @since
  AND (
    @user_id IN UNNEST(user_keys)
    OR (
      keys_extracted IS NOT TRUE
      AND REGEXP_CONTAINS(payload, @key_pattern)
    )
  )
