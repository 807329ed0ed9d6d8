-- A bad_events row names the user @user_id: its parsed payload's user keys hold the id, or, for
-- a payload that could not be parsed, @key_pattern finds the id as the value of a user key in
-- its text (functions/rollup/gdpr.py: key_pattern). {{ names_user }}.
(@user_id IN UNNEST(user_keys) OR (keys_extracted IS NOT TRUE AND REGEXP_CONTAINS(payload, @key_pattern)))
