-- The latest row of each check since @since: its current alert state. A firing alert writes a
-- reminder row every cooldown, so an open alert always has a row within the look-back.
SELECT
  alert_id, check_name, status, severity, metric, value, threshold,
  TO_JSON_STRING(figures) AS figures, fired_at, sent, sent_at, attempts
FROM alerts_log
WHERE DATE(fired_at) >= DATE(@since)
QUALIFY ROW_NUMBER() OVER (PARTITION BY check_name ORDER BY fired_at DESC, alert_id DESC) = 1
