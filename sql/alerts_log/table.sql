CREATE TABLE IF NOT EXISTS alerts_log (
  alert_id STRING NOT NULL,           -- random id; also the mail's Message-ID
  check_name STRING NOT NULL,         -- error_rate, latency_p95, revenue_drop, cost, silence
  status STRING NOT NULL,             -- firing or resolved
  severity STRING NOT NULL,           -- critical or warning
  metric STRING NOT NULL,             -- what value measures, as in the mail's subject
  value FLOAT64,                      -- the measured figure; NULL when nothing was measured
  threshold FLOAT64,                  -- the limit it was compared with
  figures JSON,                       -- unit, direction, episode start and the check's details
  fired_at TIMESTAMP NOT NULL,        -- when the alerts run wrote the row
  sent BOOL NOT NULL,                 -- the SMTP server accepted the mail
  sent_at TIMESTAMP,
  attempts INT64 NOT NULL             -- SMTP delivery attempts so far
);
