-- Alert rows written since @since, newest first (for `beacon alerts` and tests).
SELECT
  alert_id, check_name, status, severity, metric, value, threshold,
  TO_JSON_STRING(figures) AS figures, fired_at, sent, sent_at, attempts
FROM alerts_log
WHERE DATE(fired_at) >= DATE(@since)
ORDER BY fired_at DESC, alert_id DESC
