-- Every attempt to mail one alert row failed; count them and leave it unsent for the next run.
UPDATE alerts_log
SET attempts = attempts + @attempts
WHERE DATE(fired_at) = DATE(@fired_at)
  AND alert_id = @alert_id
