-- Erase a user's first-seen row (user_id there is COALESCE(user_id, anonymous_id)).
DELETE FROM user_first_seen
WHERE first_seen_date >= @since
  AND user_id = @user_id
