-- Record one alert notification before it is mailed (DML, so mark_sent can update it at once).
INSERT INTO alerts_log (
  alert_id, check_name, status, severity, metric, value, threshold, figures,
  fired_at, sent, sent_at, attempts
)
VALUES (
  @alert_id, @check_name, @status, @severity, @metric, @value, @threshold, PARSE_JSON(@figures),
  @fired_at, FALSE, NULL, 0
)
