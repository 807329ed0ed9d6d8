-- Erase a user's raw events, matched on either identity column, in every stored partition.
DELETE FROM events
WHERE DATE(`timestamp`) >= @since
  AND (user_id = @user_id OR anonymous_id = @user_id)
