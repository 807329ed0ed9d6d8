-- The latest erasure request for a user hash in the last days: a failed one leaves the range of
-- days whose rollups still need recomputing.
SELECT status, first_day, last_day
FROM privacy_log
WHERE DATE(requested_at) >= @since
  AND user_hash = @user_hash
  AND action = 'delete'
QUALIFY ROW_NUMBER() OVER (ORDER BY requested_at DESC, request_id DESC) = 1
