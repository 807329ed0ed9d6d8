-- Erase a user's lifecycle stages (user_id there is COALESCE(user_id, anonymous_id)).
DELETE FROM user_lifecycle
WHERE `date` >= @since
  AND user_id = @user_id
