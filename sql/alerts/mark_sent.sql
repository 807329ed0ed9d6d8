-- The SMTP server accepted the mail of one alert row after @attempts more attempts.
UPDATE alerts_log
SET sent = TRUE, sent_at = @sent_at, attempts = attempts + @attempts
WHERE DATE(fired_at) = DATE(@fired_at)
  AND alert_id = @alert_id
