-- Erase a user's milestones (user_id there is COALESCE(user_id, anonymous_id)).
DELETE FROM user_milestones
WHERE first_date >= @since
  AND user_id = @user_id
