-- Erase a user's active days (user_id there is COALESCE(user_id, anonymous_id)).
DELETE FROM user_days
WHERE date >= @since
  AND user_id = @user_id
