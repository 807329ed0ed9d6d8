-- Erase a user's activity state (user_id there is COALESCE(user_id, anonymous_id)).
DELETE FROM user_activity
WHERE first_seen_date >= @since
  AND user_id = @user_id
