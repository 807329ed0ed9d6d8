-- Who an event is about: the signed-in user_id, else the device's anonymous_id (docs/events.md).
-- An event with neither counts as an event but not as a user. {{ user_key }}.
COALESCE(user_id, anonymous_id)
